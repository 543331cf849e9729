package mastodon

import (
	"regexp"
	"strings"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxReplyHTML bounds what is read of a reply's HTML: an answer is on its
// first line, and a server may allow statuses of any length.
const maxReplyHTML = 64 << 10

// leftovers are what servers do not always link: handles, hashtags and
// URLs written as plain text.
var leftovers = regexp.MustCompile(`(?i)(^|\s)(@[\p{L}\p{N}_.\-]+(@[\p{L}\p{N}.\-:]+)?|[#＃][\p{L}\p{N}_]+|https?://\S+)`)

// AnswerText is the text of a reply's HTML as the answer parser reads it:
// without the mentions (every reply starts with the handle it answers),
// links and hashtags, one line per paragraph or line break. Every server
// writes these as <a> elements (Mastodon, GoToSocial, Akkoma, Misskey);
// the same left as plain text are dropped too.
func AnswerText(content string) string {
	if len(content) > maxReplyHTML {
		content = content[:maxReplyHTML]
	}
	z := xhtml.NewTokenizer(strings.NewReader(content))
	var b strings.Builder
	inLink := 0
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return dropLeftovers(b.String())
		case xhtml.TextToken:
			if inLink == 0 {
				b.Write(z.Text())
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.A:
				inLink++
			case atom.Br, atom.P, atom.Div, atom.Li, atom.Blockquote:
				b.WriteByte('\n')
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.A:
				inLink = max(inLink-1, 0)
			case atom.P, atom.Div, atom.Li, atom.Blockquote:
				b.WriteByte('\n')
			}
		}
	}
}

func dropLeftovers(text string) string {
	var out []string
	for line := range strings.Lines(text) {
		line = leftovers.ReplaceAllString(line, "$1")
		out = append(out, strings.TrimSpace(line))
	}
	return strings.Join(out, "\n")
}
