package federation

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/go-fed/activity/streams"
	"github.com/go-fed/activity/streams/vocab"
)

// Outgoing activities are built with go-fed's ActivityStreams vocabulary,
// so that what passerelle sends is well-typed AS2 with its @context.
// Incoming envelopes are read as plain JSON instead (activity.go): go-fed
// refuses documents without @context, which Gancio sends and which every
// embedded object lacks.

func iri(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("%q is not an absolute IRI", s)
	}
	return u, nil
}

func newFollow(id, actor, object string) (vocab.ActivityStreamsFollow, error) {
	ids := map[string]*url.URL{}
	for _, s := range []string{id, actor, object} {
		u, err := iri(s)
		if err != nil {
			return nil, fmt.Errorf("build Follow: %w", err)
		}
		ids[s] = u
	}
	f := streams.NewActivityStreamsFollow()
	idp := streams.NewJSONLDIdProperty()
	idp.Set(ids[id])
	f.SetJSONLDId(idp)
	ap := streams.NewActivityStreamsActorProperty()
	ap.AppendIRI(ids[actor])
	f.SetActivityStreamsActor(ap)
	op := streams.NewActivityStreamsObjectProperty()
	op.AppendIRI(ids[object])
	f.SetActivityStreamsObject(op)
	to := streams.NewActivityStreamsToProperty()
	to.AppendIRI(ids[object])
	f.SetActivityStreamsTo(to)
	return f, nil
}

func serialize(t vocab.Type) ([]byte, error) {
	m, err := streams.Serialize(t)
	if err != nil {
		return nil, fmt.Errorf("serialize %s: %w", t.GetTypeName(), err)
	}
	return json.Marshal(m)
}

// followActivity is a Follow of object by actor.
func followActivity(id, actor, object string) ([]byte, error) {
	f, err := newFollow(id, actor, object)
	if err != nil {
		return nil, err
	}
	return serialize(f)
}

// undoFollowActivity undoes the Follow followID, embedded as Mastodon and
// Mobilizon expect.
func undoFollowActivity(id, actor, followID, object string) ([]byte, error) {
	f, err := newFollow(followID, actor, object)
	if err != nil {
		return nil, err
	}
	idu, err := iri(id)
	if err != nil {
		return nil, fmt.Errorf("build Undo: %w", err)
	}
	u := streams.NewActivityStreamsUndo()
	idp := streams.NewJSONLDIdProperty()
	idp.Set(idu)
	u.SetJSONLDId(idp)
	u.SetActivityStreamsActor(f.GetActivityStreamsActor())
	op := streams.NewActivityStreamsObjectProperty()
	op.AppendActivityStreamsFollow(f)
	u.SetActivityStreamsObject(op)
	u.SetActivityStreamsTo(f.GetActivityStreamsTo())
	return serialize(u)
}
