package mastodon

import (
	"os"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges/peertube"
)

// TestComposePeerTubeLive checks that a PeerTube scheduled live, an
// ordinary JoinExternal event, is posted with its title, time and watch
// link by the default template, without anything PeerTube-specific here.
func TestComposePeerTubeLive(t *testing.T) {
	raw, err := os.ReadFile("../bridges/peertube/testdata/live-scheduled-built.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := peertube.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ParseTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	text, err := tp.Compose(&ev, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ev.Title, ev.URL, FormatWhen(&ev, "fr")} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}
