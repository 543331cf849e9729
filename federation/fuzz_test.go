package federation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/dialects"
	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
)

// jsonLimits bound reading one activity: the dialects' seed documents
// allocate up to 300 KiB and 200 bytes per input byte (see eventtest).
var jsonLimits = fuzzbound.Limits{Base: 4 << 20, PerByte: 200}

// FuzzInboxActivity reads a body as the inbox and its job do: the head
// reader (before the 202), then the full Activity and its embedded object
// through each dialect. Beyond bounded time and memory, the head reader
// must agree with the full decode on type, id and actor, the embedded
// object's origin must be checked on the id its dialect reads, and an event
// a dialect returns must be valid. Seeds: every activity and object under
// the dialects' testdata.
func FuzzInboxActivity(f *testing.F) {
	files, err := filepath.Glob("../bridges/*/testdata/*.json*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no dialect fixtures under ../bridges/*/testdata: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	decoders := realDialects()
	names := []string{dialects.Mobilizon, dialects.Gancio, dialects.PeerTube, dialects.Generic}
	f.Fuzz(func(t *testing.T, body []byte) {
		var (
			head            activityHead
			headErr, actErr error
			act             Activity
			decoded         bool
			events          = make([]bridges.Event, len(names))
			decodeErrs      = make([]error, len(names))
		)
		fuzzbound.Check(t, len(body), jsonLimits, func() {
			head, headErr = readActivityHead(body)
			actErr = json.Unmarshal(body, &act)
			if actErr != nil || len(act.Object) == 0 || act.Object[0] != '{' {
				return
			}
			decoded = true
			for i, name := range names {
				events[i], decodeErrs[i] = decoders[name].Decode(act.Object)
			}
		})
		if headErr == nil && actErr == nil {
			if head.Type != act.Type || head.ID != act.ID || ref(head.Actor) != ref(act.Actor) {
				t.Fatalf("head reader says %q %q %q, the job's decode %q %q %q",
					head.Type, head.ID, ref(head.Actor), act.Type, act.ID, ref(act.Actor))
			}
		}
		// The embedded object's id decides whether its copy is believed
		// (objectFromOrigin); the dialect stores the event under the id
		// it reads, exactly "id", as the head reader does: both must be
		// the same id.
		if o := embedded(act.Object); actErr == nil && o != nil {
			if oh, err := readActivityHead(act.Object); err == nil && oh.ID != o.ID {
				t.Fatalf("the object's origin is checked on id %q, its dialect reads id %q", o.ID, oh.ID)
			}
		}
		for i, name := range names {
			if !decoded || decodeErrs[i] != nil {
				continue
			}
			if err := events[i].Validate(); err != nil {
				t.Fatalf("dialect %s returned an invalid event without error: %v", name, err)
			}
		}
	})
}
