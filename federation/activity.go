package federation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Activity is the envelope of an incoming activity, read as plain JSON
// (see actorDoc for why). Object stays raw: it is an id or an embedded
// object, and the dialects read embedded events themselves.
type Activity struct {
	Context json.RawMessage `json:"@context,omitempty"`
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Actor   json.RawMessage `json:"actor"`
	Object  json.RawMessage `json:"object"`
	// AttributedTo is set by Mobilizon on Announces and auto-Accepts.
	AttributedTo json.RawMessage `json:"attributedTo,omitempty"`
}

// ref reads a property that is an id string, an object with an id, or an
// array of either (the first entry counts).
func ref(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if raw[0] == '"' && unquote(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil && o.ID != "" {
		return o.ID
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil && len(arr) > 0 {
		return ref(arr[0])
	}
	return ""
}

// refs reads every id of a property that is an id, an object or an array
// of them (PeerTube's attributedTo lists the account, then the channel).
func refs(raw json.RawMessage) []string {
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) != nil {
		if r := ref(raw); r != "" {
			return []string{r}
		}
		return nil
	}
	var out []string
	for _, a := range arr {
		if r := ref(a); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// UnmarshalJSON reads the members by their exact names (see exactMembers).
func (a *Activity) UnmarshalJSON(b []byte) error {
	return exactMembers(b, map[string]any{
		"@context": &a.Context, "id": &a.ID, "type": &a.Type, "actor": &a.Actor,
		"object": &a.Object, "attributedTo": &a.AttributedTo,
	})
}

// UnmarshalJSON reads the members by their exact names (see exactMembers).
func (o *objectHeader) UnmarshalJSON(b []byte) error {
	return exactMembers(b, map[string]any{
		"id": &o.ID, "type": &o.Type, "actor": &o.Actor, "object": &o.Object,
		"attributedTo": &o.AttributedTo, "formerType": &o.FormerType,
	})
}

// exactMembers decodes the members of the JSON object b whose names are
// keys of dst into dst's values (the last of duplicate names wins). JSON-LD
// terms are case-sensitive, and the inbox's head reader and the dialects
// read "id" and nothing else; encoding/json would also fill a field from
// "ID" or "Actor", so that one document could show one id to the origin
// check here and another to the dialect that stores the event.
func exactMembers(b []byte, dst map[string]any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for name, raw := range m {
		if v, ok := dst[name]; ok {
			if err := json.Unmarshal(raw, v); err != nil {
				return fmt.Errorf("member %q: %w", name, err)
			}
		}
	}
	return nil
}

// objectHeader is what passerelle reads of an object before handing it to
// a dialect.
type objectHeader struct {
	ID           string          `json:"id"`
	Type         json.RawMessage `json:"type"`
	Actor        json.RawMessage `json:"actor"`
	Object       json.RawMessage `json:"object"`
	AttributedTo json.RawMessage `json:"attributedTo"`
	FormerType   string          `json:"formerType"`
}

// types reads "type", which may be one name or several.
func (o *objectHeader) types() []string {
	var one string
	if json.Unmarshal(o.Type, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(o.Type, &many)
	return many
}

func (o *objectHeader) is(t string) bool {
	for _, x := range o.types() {
		if x == t {
			return true
		}
	}
	return false
}

// embedded returns the object when raw is an embedded object, nil when it
// is only an id.
func embedded(raw json.RawMessage) *objectHeader {
	s := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(s, "{") {
		return nil
	}
	var o objectHeader
	if json.Unmarshal(raw, &o) != nil || o.ID == "" {
		return nil
	}
	return &o
}
