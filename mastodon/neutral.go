package mastodon

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// wordJoiner (U+2060) is invisible and is no word character for Mastodon's
// patterns (Ruby's [[:word:]] is letters, marks, numbers and connector
// punctuation; it is a format character). Put right after an @ or a #, it
// stops the server from reading what follows as a mention or a hashtag,
// while the reader still sees the same text.
const wordJoiner = '\u2060'

// Neutralise keeps text taken from elsewhere (a remote event's title,
// description or place) from acting on Mastodon: a "@user@host" or
// "@user" in it would make the community's account mention, and so notify,
// whoever it names, and a "#tag" would file the status under a tag the
// event does not have. Each such @ and # is followed by a word joiner,
// except the hashtags in ownTags (lower-cased, without #), which are the
// event's own. What Mastodon would not link anyway (an @ or # inside a
// word or a URL, "a@b" in an address) is left as it is.
//
// The rules follow Mastodon's patterns: a mention is an @ not preceded by
// a word character, = or /, followed by [a-z0-9_] (Account::MENTION_RE);
// a hashtag is a # or ＃ not preceded by a word character, =, / or ),
// followed by a word character (Tag::HASHTAG_RE).
func Neutralise(text string, ownTags map[string]bool) string {
	if !strings.ContainsAny(text, "@#＃") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 8)
	prev := rune(-1)
	for i, r := range text {
		b.WriteRune(r)
		rest := text[i+utf8.RuneLen(r):]
		next, _ := utf8.DecodeRuneInString(rest)
		switch {
		case r == '@' && !isWord(prev) && prev != '=' && prev != '/' && isUsernameStart(next):
			b.WriteRune(wordJoiner)
		case (r == '#' || r == '＃') && !isWord(prev) && prev != '=' && prev != '/' && prev != ')' && isWord(next):
			if !ownTags[strings.ToLower(hashtagName(rest))] {
				b.WriteRune(wordJoiner)
			}
		}
		prev = r
	}
	return b.String()
}

// isWord is Ruby's [[:word:]] on Unicode text.
func isWord(r rune) bool {
	return r >= 0 && (unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r) || unicode.Is(unicode.Pc, r))
}

func isUsernameStart(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// hashtagName is the tag that starts text: word characters and the
// separators Mastodon allows inside one (_ · ・ ZWNJ).
func hashtagName(text string) string {
	end := strings.IndexFunc(text, func(r rune) bool {
		return !isWord(r) && !strings.ContainsRune("_\u00B7\u30FB\u200C", r)
	})
	if end < 0 {
		return text
	}
	return text[:end]
}

// ownTags is the set of an event's hashtags, lower-cased, without #.
func ownTags(hashtags []string) map[string]bool {
	m := make(map[string]bool, len(hashtags))
	for _, h := range hashtags {
		m[strings.ToLower(strings.TrimPrefix(h, "#"))] = true
	}
	return m
}
