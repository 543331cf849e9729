package web

import (
	"strings"

	"github.com/microcosm-cc/bluemonday"

	"codeberg.org/passerelle/passerelle/media"
)

// policy is applied again at display time, whatever the dialects already
// did: the pages never trust stored HTML.
var policy = bluemonday.UGCPolicy()

// sanitize cleans stored HTML for display. Images that came without a
// text alternative get an empty one: they are then skipped by screen
// readers instead of read out as a file name.
func sanitize(html string) string {
	clean := policy.Sanitize(html)
	var b strings.Builder
	for {
		i := strings.Index(clean, "<img ")
		if i < 0 {
			b.WriteString(clean)
			return b.String()
		}
		end := strings.IndexByte(clean[i:], '>')
		if end < 0 {
			b.WriteString(clean)
			return b.String()
		}
		tag := clean[i : i+end]
		b.WriteString(clean[:i])
		if strings.Contains(tag, " alt=") {
			b.WriteString(tag)
		} else {
			b.WriteString(`<img alt=""` + tag[len("<img"):])
		}
		clean = clean[i+end:]
	}
}

// withoutImages drops every image of sanitised HTML: passerelle fetches
// only the images of events, and shows no other remote one.
func withoutImages(clean string) string {
	out, err := media.RewriteImages(clean, nil)
	if err != nil {
		return policyNoImages.Sanitize(clean)
	}
	return out
}

// policyNoImages is policy without <img>, for the rare HTML the tokenizer
// cannot walk.
var policyNoImages = bluemonday.UGCPolicy().SkipElementsContent("img")
