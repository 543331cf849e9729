package federation

import (
	"encoding/json"
	"errors"
	"testing"
)

// headByEncodingJSON is what readActivityHead must agree with: the
// members named exactly type, id and actor (ActivityStreams terms are
// case-sensitive, where encoding/json would match a struct field's name in
// any case), decoded by encoding/json.
func headByEncodingJSON(body []byte) (activityHead, error) {
	var h activityHead
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return h, err
	}
	if m == nil {
		return h, errors.New("null")
	}
	for name, dst := range map[string]*string{"type": &h.Type, "id": &h.ID} {
		if raw, ok := m[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return h, err
			}
		}
	}
	h.Actor = m["actor"]
	return h, nil
}

var headSeeds = []string{
	`{"type":"Create","id":"https://m.example/a/1","actor":"https://m.example/@g","object":{"type":"Event","name":"x"}}`,
	` { "actor" : {"id":"https://m.example/@g","type":"Group"} , "type" : "Update" } `,
	`{"type":"Create","type":"Update","actor":["https://a.example/@x",{"id":"y"}]}`,
	`{"id":null,"type":"Delete","object":"https://m.example/e/1","to":"https://www.w3.org/ns/activitystreams#Public"}`,
	`{"t\u0079pe":"Cr\u00e9ate","id":"https://m.example/\"quoted\"","content":"a } ] \" \\ b","n":-1.5e3,"ok":true,"no":false}`,
	`{"@context":["https://www.w3.org/ns/activitystreams",{"ical":"http://www.w3.org/2002/12/cal/ical#"}],"type":"Announce"}`,
	`{}`,
	`{"type":["Create"]}`,
	`{"type":3}`,
	`{"id":{"a":1}}`,
	`[]`,
	`"Create"`,
	`{"type":"Create"`,
	`{"type":"Create"}}`,
	`{"type" "Create"}`,
	`{"type":"Create",}`,
	`null`,
	``,
}

func TestReadActivityHeadAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range headSeeds {
		checkHead(t, []byte(s))
	}
}

func FuzzReadActivityHead(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkHead(t, body) })
}

func checkHead(t *testing.T, body []byte) {
	t.Helper()
	want, wantErr := headByEncodingJSON(body)
	got, err := readActivityHead(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", body, err, wantErr)
	}
	if err != nil {
		return
	}
	if got.Type != want.Type || got.ID != want.ID || string(got.Actor) != string(want.Actor) {
		t.Fatalf("%q: got %q %q %s, encoding/json %q %q %s", body, got.Type, got.ID, got.Actor, want.Type, want.ID, want.Actor)
	}
}

// TestRef reads the forms an actor or object reference takes.
func TestRef(t *testing.T) {
	for raw, want := range map[string]string{
		`"https://m.example/@g"`:                          "https://m.example/@g",
		` "https://m.example/@g" `:                        "https://m.example/@g",
		`"https://m.example/@\u00e9t\u00e9"`:              "https://m.example/@été",
		`{"id":"https://m.example/@g","type":"Group"}`:    "https://m.example/@g",
		`["https://m.example/@a",{"id":"https://b"}]`:     "https://m.example/@a",
		`[{"type":"Person","id":"https://m.example/@p"}]`: "https://m.example/@p",
		`null`: "", ``: "", `[]`: "", `{}`: "", `3`: "",
	} {
		if got := ref(json.RawMessage(raw)); got != want {
			t.Errorf("ref(%s) = %q, want %q", raw, got, want)
		}
	}
}
