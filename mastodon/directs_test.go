package mastodon

import (
	"strings"
	"testing"
	"unicode/utf8"

	"codeberg.org/passerelle/passerelle/bridges"
)

// TestDirectText: every notice told in a direct reply has its sentence in
// every language, mentions only the person, and stays within a default
// instance's 500 characters whatever the title.
func TestDirectText(t *testing.T) {
	long := strings.Repeat("Très long titre @quelqu'un #tag ", 40)
	for lang := range directLabels {
		for n := range directNotices {
			for _, approved := range []bool{false, true} {
				if approved && n != bridges.NoticeJoined {
					continue
				}
				ev := &bridges.Event{ID: 7, Title: long, Language: lang + "-XX", URL: "https://mobilizon.test/events/7"}
				text := DirectText(n, approved, ev, "bob@social.example", "https://passerelle.test/events/7")
				if strings.Contains(text, "%!") || !strings.HasPrefix(text, "@bob@social.example ") || !strings.Contains(text, "https://passerelle.test/events/7") {
					t.Errorf("%s %s: %q", lang, n, text)
				}
				if strings.Count(text, "@") != 2+strings.Count(text, "@\u2060") {
					t.Errorf("%s %s mentions someone else: %q", lang, n, text)
				}
				if c := utf8.RuneCountInString(text); c > 500 {
					t.Errorf("%s %s: %d characters", lang, n, c)
				}
			}
		}
	}
}
