package federation

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/golden"
)

// goldenJSON compares an activity, indented, with testdata/name.
func goldenJSON(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	pretty.WriteByte('\n')
	golden.Check(t, filepath.Join("testdata", name), pretty.Bytes())
}

func TestOutgoingActivities(t *testing.T) {
	const me = "https://events.example.org/actors/passerelle"
	follow, err := followActivity("https://events.example.org/follows/1", me, "https://mobilizon.example/@libre_cafe")
	if err != nil {
		t.Fatal(err)
	}
	goldenJSON(t, "follow.golden.json", follow)
	undo, err := undoFollowActivity("https://events.example.org/undos/2", me, "https://events.example.org/follows/1", "https://mobilizon.example/@libre_cafe")
	if err != nil {
		t.Fatal(err)
	}
	goldenJSON(t, "undo-follow.golden.json", undo)
	if _, err := followActivity("not a url", me, "x"); err == nil {
		t.Error("a Follow with a relative id was built")
	}
}
