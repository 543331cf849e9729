package bridges

import (
	"slices"
	"strings"
	"unicode"
)

// answerWords are the first words of a plain reply that say yes, no or
// maybe in English, French, German, Spanish and Italian.
var answerWords = map[string]Answer{
	"yes": AnswerAccepted, "y": AnswerAccepted, "yep": AnswerAccepted, "yeah": AnswerAccepted,
	"oui": AnswerAccepted, "ja": AnswerAccepted, "sí": AnswerAccepted, "si": AnswerAccepted, "sì": AnswerAccepted,
	"going": AnswerAccepted,
	"no":    AnswerDeclined, "n": AnswerDeclined, "nope": AnswerDeclined,
	"non": AnswerDeclined, "nein": AnswerDeclined,
	"maybe": AnswerTentative, "perhaps": AnswerTentative,
	"peut-être": AnswerTentative, "peut-etre": AnswerTentative, "peutêtre": AnswerTentative,
	"vielleicht": AnswerTentative, "quizás": AnswerTentative, "quizas": AnswerTentative,
	"quizá": AnswerTentative, "quiza": AnswerTentative, "forse": AnswerTentative,
}

// answerPhrases are answers of several words, matched on the first words
// of the line as answerWords splits them ("can't" is "can", "t"). They are
// what people write under an event post rather than in a mail ("count me
// in"), in the languages above.
var answerPhrases = func() []struct {
	words  []string
	answer Answer
} {
	phrases := map[string]Answer{
		"count me in": AnswerAccepted, "i'm going": AnswerAccepted, "i am going": AnswerAccepted,
		"j'y vais": AnswerAccepted, "je viens": AnswerAccepted, "j'y serai": AnswerAccepted, "tal vez": AnswerTentative,
		"not going": AnswerDeclined, "i'm not going": AnswerDeclined, "can't make it": AnswerDeclined, "cannot make it": AnswerDeclined,
		"can't go": AnswerDeclined, "je ne viens plus": AnswerDeclined, "je ne viens pas": AnswerDeclined, "count me out": AnswerDeclined,
		// "je viens de…" is "I just…": no answer.
		"je viens de": noAnswer, "je viens d": noAnswer,
	}
	var out []struct {
		words  []string
		answer Answer
	}
	for p, a := range phrases {
		out = append(out, struct {
			words  []string
			answer Answer
		}{answerFields(p), a})
	}
	return out
}()

// noAnswer marks a phrase that starts like an answer but is not one.
const noAnswer Answer = "-"

// answerSymbols answer on their own at the start of a line: what a
// fediverse reply often is.
var answerSymbols = []struct {
	prefix string
	answer Answer
}{
	{"✅", AnswerAccepted}, {"👍", AnswerAccepted}, {"✔", AnswerAccepted}, {"❌", AnswerDeclined}, {"👎", AnswerDeclined},
}

func answerFields(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && r != '-'
	})
}

// TextAnswer reads yes, no or maybe from the first line of a plain reply
// that is neither empty nor quoted; any other first line is no answer
// (a sentence there may say anything, so nothing is guessed). Mail
// replies and fediverse replies (their text without mentions, links and
// hashtags) are read by this one parser.
func TextAnswer(text string) Answer {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(strings.TrimPrefix(line, "\uFEFF"))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, ">") {
			continue
		}
		return lineAnswer(line)
	}
	return ""
}

func lineAnswer(line string) Answer {
	for _, s := range answerSymbols {
		if strings.HasPrefix(line, s.prefix) {
			return s.answer
		}
	}
	// "+1" alone or followed by a non-digit: "+10" is a number.
	if rest, ok := strings.CutPrefix(line, "+1"); ok && (rest == "" || rest[0] < '0' || rest[0] > '9') {
		return AnswerAccepted
	}
	words := answerFields(line)
	if len(words) == 0 {
		return ""
	}
	// The longest phrase wins: "je ne viens plus" is not "je viens".
	best, bestLen := Answer(""), 0
	for _, p := range answerPhrases {
		if len(p.words) > bestLen && len(words) >= len(p.words) && slices.Equal(words[:len(p.words)], p.words) {
			best, bestLen = p.answer, len(p.words)
		}
	}
	if best == noAnswer {
		return ""
	}
	if best != "" {
		return best
	}
	return answerWords[strings.Trim(words[0], "-")]
}
