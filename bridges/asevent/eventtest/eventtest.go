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
	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
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

// decodeLimits bound one decode. The seed documents allocate up to 300 KiB
// and up to 200 bytes per input byte (JSON into maps, HTML sanitising of
// the description); 4 MiB plus 200 bytes per byte leaves room for odd
// documents and still catches anything worse than linear.
var decodeLimits = fuzzbound.Limits{Base: 4 << 20, PerByte: 200}

// Fuzz is the fuzz target every dialect shares: every document under
// testdata/ is a seed (the object it holds, as Load gives it), and for any
// input decode returns within bounded time and memory (fuzzbound), an
// event it returns without error passes bridges.Event.Validate, and a
// second decode of the same bytes gives the same outcome, since the stored
// calendar text and its ETag are rendered from it.
func Fuzz(f *testing.F, decode Decoder) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json*"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no documents under testdata/ to seed the fuzzer")
	}
	for _, file := range files {
		f.Add(Load(f, filepath.Base(file)))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev bridges.Event
		var err error
		fuzzbound.Check(t, len(raw), decodeLimits, func() { ev, err = decode(raw) })
		if err == nil {
			if verr := ev.Validate(); verr != nil {
				t.Fatalf("decode returned an invalid event without error: %v", verr)
			}
		}
		first := Outcome(ev, err)
		if again := Outcome(decode(raw)); !bytes.Equal(again, first) {
			t.Fatalf("two decodes of the same document differ:\n%s\n%s", first, again)
		}
	})
}
