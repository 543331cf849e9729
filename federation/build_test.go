package federation

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from the golden file:\n%s", name, pretty.Bytes())
	}
}

func TestOutgoingActivities(t *testing.T) {
	const me = "https://events.example.org/actors/passerelle"
	follow, err := followActivity("https://events.example.org/follows/1", me, "https://mobilizon.example/@libre_cafe")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "follow.golden.json", follow)
	undo, err := undoFollowActivity("https://events.example.org/undos/2", me, "https://events.example.org/follows/1", "https://mobilizon.example/@libre_cafe")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "undo-follow.golden.json", undo)
	if _, err := followActivity("not a url", me, "x"); err == nil {
		t.Error("a Follow with a relative id was built")
	}
}
