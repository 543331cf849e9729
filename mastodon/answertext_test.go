package mastodon

import (
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
)

// TestAnswerText reads replies as the servers write them: the mention of
// the community account first, links and hashtags anywhere.
func TestAnswerText(t *testing.T) {
	tests := []struct {
		name, html string
		want       bridges.Answer
	}{
		{"mastodon", `<p><span class="h-card" translate="no"><a href="https://social.test/@events" class="u-url mention">@<span>events</span></a></span> going!</p>`, bridges.AnswerAccepted},
		{"gotosocial", `<p><span class="h-card"><a href="https://gts.test/@events" class="mention">@<span>events</span></a></span> count me in</p>`, bridges.AnswerAccepted},
		{"misskey plain mention", `<p>@events@social.test ✅</p>`, bridges.AnswerAccepted},
		{"several mentions", `<p><a class="mention" href="x">@a</a> <a class="mention" href="y">@b@c.test</a> @d@e.test not going, sorry</p>`, bridges.AnswerDeclined},
		{"line break after mention", `<p><a class="mention" href="x">@events</a><br>Je viens</p>`, bridges.AnswerAccepted},
		{"hashtag and link first", `<p><a href="https://social.test/tags/apero" class="mention hashtag">#<span>apero</span></a> https://example.org +1</p>`, bridges.AnswerAccepted},
		{"entities", `<p>@events can&#39;t make it</p>`, bridges.AnswerDeclined},
		{"a question", `<p><a class="mention" href="x">@events</a> where is it? yes I know</p>`, ""},
		{"mention only", `<p><a class="mention" href="x">@events</a></p>`, ""},
		{"empty", ``, ""},
		{"broken html", `<p><a href="x">@events</a> going<p><<<`, bridges.AnswerAccepted},
	}
	for _, tt := range tests {
		if got := bridges.TextAnswer(AnswerText(tt.html)); got != tt.want {
			t.Errorf("%s: answer of %q (text %q) = %q, want %q", tt.name, tt.html, AnswerText(tt.html), got, tt.want)
		}
	}
}

// TestAnswerTextLong reads replies of any length in bounded work: a
// 5,000-character reply, one mentioning hundreds of accounts, and one far
// larger than any server allows.
func TestAnswerTextLong(t *testing.T) {
	long := `<p><a class="mention" href="x">@events</a> going ` + strings.Repeat("x", 5000) + `</p>`
	if got := bridges.TextAnswer(AnswerText(long)); got != bridges.AnswerAccepted {
		t.Errorf("5,000 characters: %q", got)
	}
	var many strings.Builder
	many.WriteString("<p>")
	for range 500 {
		many.WriteString(`<a class="mention" href="https://x.test/@u">@u@x.test</a> `)
	}
	many.WriteString("going</p>")
	if got := bridges.TextAnswer(AnswerText(many.String())); got != bridges.AnswerAccepted {
		t.Errorf("500 mentions: %q", got)
	}
	huge := "<p>" + strings.Repeat("<b>", 1<<20) + "going"
	if text := AnswerText(huge); len(text) > maxReplyHTML {
		t.Errorf("a huge reply gave %d bytes of text", len(text))
	}
}
