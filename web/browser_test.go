package web

import (
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/browsertest"
)

// TestInRealBrowser walks the pages in Debian's chromium, with axe-core
// checking accessibility. Screenshots go to web/screenshots/ (not
// committed) for a person to look at.
func TestInRealBrowser(t *testing.T) {
	s := newSite(t)
	shots, _ := filepath.Abs("screenshots")
	r := browsertest.Walk(t, s.srv.URL, shots, "visitor@example.net")
	r.Check(t, "visitor@example.net")
	if r.Pages[0].Lang != "fr" || r.Pages[2].Lang != "en" {
		t.Errorf("the pages did not follow the browser's language: %+v", r.Pages)
	}
	if len(s.inviter.calls) != 1 || !strings.HasSuffix(s.inviter.calls[0], " visitor@example.net") {
		t.Errorf("the form did not reach the inviter: %v", s.inviter.calls)
	}
}
