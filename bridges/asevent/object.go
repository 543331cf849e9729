// Package asevent reads ActivityStreams objects the way every passerelle
// dialect needs them: the standard properties through go-fed's vocabulary,
// the extension terms (Mobilizon's joinMode, timezone, capacities;
// schema.org's PostalAddress; FEP-8a8e's VirtualLocation) as plain JSON,
// and the mapping of an Event object to bridges.Event that Mobilizon,
// Gancio and plain ActivityStreams servers share.
//
// The dialect packages (bridges/mobilizon, bridges/gancio,
// bridges/generic, bridges/peertube) hold what differs between servers and
// call in here for the rest; bridges/dialects picks one by software name.
package asevent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/go-fed/activity/streams"
	"github.com/go-fed/activity/streams/vocab"

	"codeberg.org/passerelle/passerelle/bridges"
)

// asContext is the normative ActivityStreams 2.0 context.
const asContext = "https://www.w3.org/ns/activitystreams"

// Public is the special collection that makes an object public, in the
// three spellings servers use.
var publicIDs = map[string]bool{
	"https://www.w3.org/ns/activitystreams#Public": true,
	"as:Public": true,
	"Public":    true,
}

// Object is one ActivityStreams object as received: go-fed's typed view of
// it for the standard vocabulary, and the decoded JSON for everything else.
type Object struct {
	// JSON is the object as decoded, numbers kept as json.Number.
	JSON map[string]any
	// Type is go-fed's view; it implements at least vocab.Type.
	Type vocab.Type
}

// Parse decodes one object. It fails, naming the field, when raw is not a
// JSON object, has no string `type` or no absolute `id`.
//
// Objects embedded in an activity (Mobilizon's Create{Event}, PeerTube's
// Update{Video}) and every document Gancio sends carry no @context, and
// go-fed's streams.ToType refuses a document without one ("'@context' is
// missing"), because it uses the context to find the prefixes properties
// are written with. ActivityStreams 2.0 Core §2.1 says a consumer must
// assume the normative AS2 context when a document does not reference it,
// so Parse adds exactly that context (and nothing else) before handing the
// document to go-fed: unprefixed AS2 properties then read as they should,
// and extension terms, which go-fed does not know anyway, are read from
// JSON by the accessors below.
func Parse(raw []byte) (*Object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode object JSON: %w", err)
	}
	if m == nil {
		return nil, errors.New("decode object JSON: want a JSON object, got null")
	}
	if dec.More() {
		return nil, errors.New("decode object JSON: trailing data after the object")
	}
	o := &Object{JSON: m}
	if _, err := o.TypeName(); err != nil {
		return nil, err
	}
	id, err := o.String("id")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errors.New("id: missing")
	}
	if err := checkURL(id); err != nil {
		return nil, fmt.Errorf("id: %w", err)
	}
	doc := m
	if c, ok := m["@context"]; !ok || c == nil {
		doc = make(map[string]any, len(m)+1)
		for k, v := range m {
			doc[k] = v
		}
		doc["@context"] = asContext
	}
	t, err := streams.ToType(context.Background(), doc)
	if err != nil {
		tn, _ := o.TypeName()
		return nil, fmt.Errorf("%w: type %q is not an ActivityStreams object type (%v)", bridges.ErrNotAnEvent, tn, err)
	}
	o.Type = t
	return o, nil
}

// TypeName is the object's `type`; of an array of types, the first that is
// not a URL (JSON-LD allows several).
func (o *Object) TypeName() (string, error) {
	switch v := o.JSON["type"].(type) {
	case string:
		if v == "" {
			return "", errors.New("type: empty")
		}
		return v, nil
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				return s, nil
			}
		}
		return "", errors.New("type: array holds no type name")
	case nil:
		return "", errors.New("type: missing")
	default:
		return "", fmt.Errorf("type: want a string, got %s", describe(v))
	}
}

// ID is the object's id.
func (o *Object) ID() string {
	s, _ := o.String("id")
	return s
}

// The go-fed getters every object type has; asserting to these small
// interfaces reads an Event and a Video alike.
type (
	hasName interface {
		GetActivityStreamsName() vocab.ActivityStreamsNameProperty
	}
	hasContent interface {
		GetActivityStreamsContent() vocab.ActivityStreamsContentProperty
	}
	hasSummary interface {
		GetActivityStreamsSummary() vocab.ActivityStreamsSummaryProperty
	}
	hasMediaType interface {
		GetActivityStreamsMediaType() vocab.ActivityStreamsMediaTypeProperty
	}
	hasURL interface {
		GetActivityStreamsUrl() vocab.ActivityStreamsUrlProperty
	}
	hasTo interface {
		GetActivityStreamsTo() vocab.ActivityStreamsToProperty
	}
	hasAttributedTo interface {
		GetActivityStreamsAttributedTo() vocab.ActivityStreamsAttributedToProperty
	}
	hasStartTime interface {
		GetActivityStreamsStartTime() vocab.ActivityStreamsStartTimeProperty
	}
	hasEndTime interface {
		GetActivityStreamsEndTime() vocab.ActivityStreamsEndTimeProperty
	}
	hasPublished interface {
		GetActivityStreamsPublished() vocab.ActivityStreamsPublishedProperty
	}
	hasUpdated interface {
		GetActivityStreamsUpdated() vocab.ActivityStreamsUpdatedProperty
	}
)

// Text is a natural-language value and the language it was tagged with
// (empty for a plain string).
type Text struct {
	Value    string
	Language string
}

// langText reads a property that is a string, or a language map
// (`nameMap`, `contentMap`), preferring the plain string. Of a map it takes
// the only entry, or "und", or the first in key order, so the choice is
// stable.
func langText(plain string, isString bool, langs map[string]string) Text {
	if isString {
		return Text{Value: plain}
	}
	if len(langs) == 0 {
		return Text{}
	}
	if v, ok := langs["und"]; ok && len(langs) == 1 {
		return Text{Value: v}
	}
	best := ""
	for k := range langs {
		if best == "" || k < best {
			best = k
		}
	}
	return Text{Value: langs[best], Language: best}
}

// Name is the object's `name` (or `nameMap`).
func (o *Object) Name() Text {
	h, ok := o.Type.(hasName)
	if !ok || h.GetActivityStreamsName() == nil {
		return Text{}
	}
	for it := h.GetActivityStreamsName().Begin(); it != nil; it = it.Next() {
		if it.IsXMLSchemaString() || it.IsRDFLangString() {
			return langText(it.GetXMLSchemaString(), it.IsXMLSchemaString(), it.GetRDFLangString())
		}
	}
	return Text{}
}

// Content is the object's `content` (or `contentMap`).
func (o *Object) Content() Text {
	h, ok := o.Type.(hasContent)
	if !ok || h.GetActivityStreamsContent() == nil {
		return Text{}
	}
	for it := h.GetActivityStreamsContent().Begin(); it != nil; it = it.Next() {
		if it.IsXMLSchemaString() || it.IsRDFLangString() {
			return langText(it.GetXMLSchemaString(), it.IsXMLSchemaString(), it.GetRDFLangString())
		}
	}
	return Text{}
}

// Summary is the object's `summary` (or `summaryMap`).
func (o *Object) Summary() Text {
	h, ok := o.Type.(hasSummary)
	if !ok || h.GetActivityStreamsSummary() == nil {
		return Text{}
	}
	for it := h.GetActivityStreamsSummary().Begin(); it != nil; it = it.Next() {
		if it.IsXMLSchemaString() || it.IsRDFLangString() {
			return langText(it.GetXMLSchemaString(), it.IsXMLSchemaString(), it.GetRDFLangString())
		}
	}
	return Text{}
}

// MediaType is the object's `mediaType`: the type of its content.
func (o *Object) MediaType() string {
	h, ok := o.Type.(hasMediaType)
	if !ok || h.GetActivityStreamsMediaType() == nil || !h.GetActivityStreamsMediaType().IsRFCRfc2045() {
		return ""
	}
	return h.GetActivityStreamsMediaType().Get()
}

// Link is one entry of `url`: an address and, when given, its media type.
type Link struct {
	Href      string
	MediaType string
}

// URLs lists the object's `url` values: bare IRIs and Link objects. Link
// objects whose media type go-fed cannot see (PeerTube 1.0 wrote
// `mimeType`) are read from JSON.
func (o *Object) URLs() []Link {
	var out []Link
	h, ok := o.Type.(hasURL)
	if !ok || h.GetActivityStreamsUrl() == nil {
		return nil
	}
	for it := h.GetActivityStreamsUrl().Begin(); it != nil; it = it.Next() {
		switch {
		case it.IsIRI():
			out = append(out, Link{Href: it.GetIRI().String()})
		case it.IsActivityStreamsLink():
			l := it.GetActivityStreamsLink()
			var link Link
			if hr := l.GetActivityStreamsHref(); hr != nil && hr.IsXMLSchemaAnyURI() {
				link.Href = hr.Get().String()
			}
			if mt := l.GetActivityStreamsMediaType(); mt != nil && mt.IsRFCRfc2045() {
				link.MediaType = mt.Get()
			}
			out = append(out, link)
		}
	}
	if raw, ok := o.JSON["url"].([]any); ok && len(raw) == len(out) {
		for i, e := range raw {
			if m, ok := e.(map[string]any); ok && out[i].MediaType == "" {
				out[i].MediaType, _ = m["mimeType"].(string)
			}
		}
	}
	return out
}

// PageURL is the object's human page: the first `url` that is text/html,
// else the first `url` with no media type, else "".
func (o *Object) PageURL() string {
	links := o.URLs()
	for _, l := range links {
		if l.Href != "" && strings.HasPrefix(l.MediaType, "text/html") {
			return l.Href
		}
	}
	for _, l := range links {
		if l.Href != "" && l.MediaType == "" {
			return l.Href
		}
	}
	return ""
}

// Public reports whether the public collection is in the object's `to`.
// Only `to` counts: an object with Public in `cc` is unlisted, which is how
// Mobilizon reads it too (FORMAT.md §3.5).
func (o *Object) Public() bool {
	h, ok := o.Type.(hasTo)
	if !ok || h.GetActivityStreamsTo() == nil {
		return false
	}
	for it := h.GetActivityStreamsTo().Begin(); it != nil; it = it.Next() {
		if it.IsIRI() && publicIDs[it.GetIRI().String()] {
			return true
		}
	}
	// go-fed reads "as:Public" and "Public" as unknown strings, not IRIs.
	for _, s := range stringList(o.JSON["to"]) {
		if publicIDs[s] {
			return true
		}
	}
	return false
}

// Actor is one entry of `attributedTo`: its id, and its type and name when
// the entry is an embedded object rather than a bare URL.
type Actor struct {
	ID   string
	Type string
	Name string
}

// AttributedTo lists the object's `attributedTo` entries in order.
func (o *Object) AttributedTo() []Actor {
	h, ok := o.Type.(hasAttributedTo)
	if !ok || h.GetActivityStreamsAttributedTo() == nil {
		return nil
	}
	var out []Actor
	for it := h.GetActivityStreamsAttributedTo().Begin(); it != nil; it = it.Next() {
		switch {
		case it.IsIRI():
			out = append(out, Actor{ID: it.GetIRI().String()})
		case it.GetType() != nil:
			t := it.GetType()
			a := Actor{Type: t.GetTypeName()}
			if id := t.GetJSONLDId(); id != nil && id.Get() != nil {
				a.ID = id.Get().String()
			}
			if n, ok := t.(hasName); ok && n.GetActivityStreamsName() != nil {
				for nt := n.GetActivityStreamsName().Begin(); nt != nil; nt = nt.Next() {
					if nt.IsXMLSchemaString() {
						a.Name = nt.GetXMLSchemaString()
						break
					}
				}
			}
			if a.ID != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// Time reads one of the date-time properties go-fed knows (startTime,
// endTime, published, updated). ok is false when the property is absent or
// null; a value that is not an ISO 8601 date-time with a zone is an error
// naming the property.
func (o *Object) Time(prop string) (t time.Time, ok bool, err error) {
	v, present := o.JSON[prop]
	if !present || v == nil {
		return time.Time{}, false, nil
	}
	type dateTime interface {
		HasAny() bool
		IsXMLSchemaDateTime() bool
		Get() time.Time
	}
	var p dateTime
	switch prop {
	case "startTime":
		if h, k := o.Type.(hasStartTime); k && h.GetActivityStreamsStartTime() != nil {
			p = h.GetActivityStreamsStartTime()
		}
	case "endTime":
		if h, k := o.Type.(hasEndTime); k && h.GetActivityStreamsEndTime() != nil {
			p = h.GetActivityStreamsEndTime()
		}
	case "published":
		if h, k := o.Type.(hasPublished); k && h.GetActivityStreamsPublished() != nil {
			p = h.GetActivityStreamsPublished()
		}
	case "updated":
		if h, k := o.Type.(hasUpdated); k && h.GetActivityStreamsUpdated() != nil {
			p = h.GetActivityStreamsUpdated()
		}
	default:
		return time.Time{}, false, fmt.Errorf("%s: not a date-time property of ActivityStreams", prop)
	}
	if p != nil && p.IsXMLSchemaDateTime() {
		return p.Get().UTC(), true, nil
	}
	// go-fed keeps a value it cannot read as "unknown" instead of failing,
	// so the error is ours to give.
	return time.Time{}, false, fmt.Errorf("%s: want an ISO 8601 date-time with a zone offset, got %s", prop, describe(v))
}

// String reads a string property; absent or null is "". Any other type is
// an error naming the property.
func (o *Object) String(key string) (string, error) {
	return stringField(o.JSON, key)
}

// Bool reads a boolean property; absent or null is nil.
func (o *Object) Bool(key string) (*bool, error) {
	switch v := o.JSON[key].(type) {
	case nil:
		return nil, nil
	case bool:
		return &v, nil
	default:
		return nil, fmt.Errorf("%s: want true or false, got %s", key, describe(v))
	}
}

// Int reads a whole-number property; absent or null is nil.
func (o *Object) Int(key string) (*int, error) {
	return intField(o.JSON, key)
}

// Hashtags lists the names of the object's Hashtag tags without their
// leading '#', in order and without duplicates. Hashtag is a Mastodon
// term go-fed v1.0.0 does not know (it resolves tag entries of that type
// to nothing), so tags are read from JSON.
func (o *Object) Hashtags() []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range list(o.JSON["tag"]) {
		m, ok := e.(map[string]any)
		if !ok || !isType(m, "Hashtag") {
			continue
		}
		name, _ := m["name"].(string)
		name = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), "#"))
		if name == "" || seen[strings.ToLower(name)] {
			continue
		}
		seen[strings.ToLower(name)] = true
		out = append(out, name)
	}
	return out
}

// Objects returns a property as a list of JSON objects, whether it holds
// one object or an array; strings and other values are left out.
func (o *Object) Objects(key string) []map[string]any {
	var out []map[string]any
	for _, e := range list(o.JSON[key]) {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// list returns v as a slice: an array as is, a single value as a slice of
// one, null as nothing.
func list(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

// stringList returns the strings in v, a string or an array.
func stringList(v any) []string {
	var out []string
	for _, e := range list(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// isType reports whether the JSON object m has type t (alone or in an
// array of types).
func isType(m map[string]any, t string) bool {
	for _, s := range stringList(m["type"]) {
		if s == t {
			return true
		}
	}
	return false
}

func stringField(m map[string]any, key string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("%s: want a string, got %s", key, describe(v))
	}
}

func intField(m map[string]any, key string) (*int, error) {
	switch v := m[key].(type) {
	case nil:
		return nil, nil
	case json.Number:
		f, err := v.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
			return nil, fmt.Errorf("%s: want a whole number, got %s", key, v)
		}
		n := int(f)
		return &n, nil
	default:
		return nil, fmt.Errorf("%s: want a whole number, got %s", key, describe(v))
	}
}

func floatValue(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// describe names a JSON value's kind for error messages, with a short
// excerpt so the sender can find it.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 60 {
			v = v[:60] + "…"
		}
		return fmt.Sprintf("%q", v)
	case json.Number:
		return "number " + v.String()
	case bool:
		return fmt.Sprintf("%t", v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// checkURL accepts absolute http and https URLs, the only ids and links
// passerelle follows.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Number reads a JSON number as decoded by Parse (an icon's width, say);
// ok is false for anything else.
func Number(v any) (float64, bool) {
	return floatValue(v)
}
