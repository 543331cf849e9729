// Package calendarstest starts a real passerelle calendar server (CalDAV
// tree, discovery, feeds) over loopback on a test database, and loads it
// through the same bridges.Events[*store.Tx] flow that federation uses.
package calendarstest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/caldav"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

// Env is a running calendar server and the flow that feeds it.
type Env struct {
	DB     *store.DB
	Events *bridges.Events[*store.Tx]
	// URL is the server's base URL (http://127.0.0.1:PORT), no slash.
	URL string
	// publicURL is the public_url the feeds name: the first replica's URL.
	publicURL string
}

// Start serves the calendars of db on a loopback port until the test ends.
func Start(tb testing.TB, db *store.DB) *Env {
	tb.Helper()
	return start(tb, db, "")
}

// Replica starts another server on the same database with the same
// public_url, as a second passerelle replica behind one address would be:
// it shares nothing with the first but the database.
func (e *Env) Replica(tb testing.TB) *Env {
	tb.Helper()
	r := start(tb, e.DB, e.publicURL)
	r.Events = e.Events
	return r
}

func start(tb testing.TB, db *store.DB, publicURL string) *Env {
	mux := http.NewServeMux()
	st := &caldav.DBStore{DB: db}
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	if publicURL == "" {
		publicURL = srv.URL
	}
	caldav.Mount(mux, &caldav.Server{Store: st}, &caldav.Feeds{Store: st, PublicURL: publicURL}, caldav.MountOptions{})
	return &Env{
		DB:        db,
		Events:    &bridges.Events[*store.Tx]{Store: db, Renderer: &ical.Renderer{}},
		URL:       srv.URL,
		publicURL: publicURL,
	}
}

// AddSource stores a followed source.
func (e *Env) AddSource(tb testing.TB, slug, name string) *bridges.Source {
	tb.Helper()
	s := &bridges.Source{Slug: slug, Name: name, ActorURL: "https://" + slug + ".example/@" + slug,
		Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	err := e.DB.Tx(context.Background(), func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, s) })
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Apply stores an event through the ingest flow, as federation would.
func (e *Env) Apply(tb testing.TB, ev bridges.Event) *bridges.StoredEvent {
	tb.Helper()
	ch, err := e.Events.Apply(context.Background(), ev, []byte(`{}`))
	if err != nil {
		tb.Fatal(err)
	}
	if ch.Event == nil {
		stored, err := e.DB.EventByAPID(context.Background(), ev.APID)
		if err != nil {
			tb.Fatal(err)
		}
		return stored
	}
	return ch.Event
}
