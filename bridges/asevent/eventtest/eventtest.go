// Package eventtest runs the golden-file tests every dialect shares: each
// document under testdata/ is decoded and the result (the event as JSON,
// or the error) compared with testdata/golden/<name>.json. Run the tests
// with -update to rewrite the golden files after a deliberate change, and
// read the diff before committing it.
package eventtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// Decoder is a dialect's decode function.
type Decoder func(raw []byte) (bridges.Event, error)

// Object returns the object a test document holds: the document itself,
// or the embedded `object` of an activity (Create, Update, Announce),
// byte for byte as it was inside the activity, without the activity's
// @context, as the federation side hands it over.
func Object(t testing.TB, doc []byte) []byte {
	t.Helper()
	var probe struct {
		Type   any             `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(doc, &probe); err != nil {
		return doc // malformed documents go to the decoder as they are
	}
	switch probe.Type {
	case "Create", "Update", "Announce":
		if len(probe.Object) > 0 && probe.Object[0] == '{' {
			return probe.Object
		}
	}
	return doc
}

// Load reads testdata/<name> and returns the object it holds.
func Load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Object(t, b)
}

// Golden decodes every testdata/*.json and *.jsonc document and compares
// the outcome with its golden file.
func Golden(t *testing.T, decode Decoder) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no documents under testdata/")
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw := Load(t, name)
			got := Outcome(decode(raw))
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(strings.TrimSuffix(name, ".jsonc"), ".json")+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s differs from %s:\n got: %s\nwant: %s", name, golden, got, want)
			}
		})
	}
}

// Outcome renders a decode result as the golden files hold it.
func Outcome(ev bridges.Event, err error) []byte {
	var v any = ev
	if err != nil {
		v = map[string]string{"error": err.Error()}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err) // bridges.Event always encodes
	}
	return buf.Bytes()
}
