package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/golden"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/publish"
	"codeberg.org/passerelle/passerelle/store"
)

// TestPublishedEventPage: the page of a published calendar's event, in
// the event's zone, with its place, sanitised description, participant
// count, the calendar's handle and how to follow and join; a hostile
// SUMMARY and DESCRIPTION come out escaped or sanitised; an unknown
// event is 404, a deleted one and any of a removed calendar 410.
func TestPublishedEventPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" +
			"BEGIN:VEVENT\r\nUID:one@club\r\nDTSTART;TZID=Europe/Paris:20261210T190000\r\nDTEND;TZID=Europe/Paris:20261210T220000\r\n" +
			"SUMMARY:Repair café <script>alert(1)</script>\r\nLOCATION:Salle des fêtes, 1 rue de la Paix, Paris\r\n" +
			"DESCRIPTION:<p>Bring <b>tools</b><script>steal()</script><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">x</a></p>\r\n" +
			"URL:https://club.example/repair\r\nEND:VEVENT\r\n" +
			"BEGIN:VEVENT\r\nUID:two@club\r\nDTSTART:20261211T190000Z\r\nSUMMARY:Gone\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
		occs, _, err := publish.Parse([]byte(ics), now)
		if err != nil || len(occs) != 2 {
			t.Fatal(occs, err)
		}
		base := "https://pass.example"
		g := base + "/actors/club"
		c := &store.PublishedCalendar{Slug: "club", URL: "https://club.example/c.ics", Title: "The Club", JoinMode: store.JoinRestricted}
		var evs []*store.PublishedEvent
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.CreatePublishedCalendar(ctx, c, &store.LocalActor{DisplayName: "club", PrivateKeyPEM: "k", PublicKeyPEM: "p"}); err != nil {
				return err
			}
			for i, o := range occs {
				key := publish.Key(o.UID, "")
				obj, _ := json.Marshal(publish.EventObject(o, publish.EventIDs{ID: publish.EventURL(g, key), Group: g, Followers: g + "/followers", JoinMode: c.JoinMode}, now, time.Time{}))
				e := &store.PublishedEvent{CalendarID: c.ID, UID: o.UID, Key: key, Hash: "h", State: store.PublishedLive, Object: obj, StartsAt: o.Start}
				if i == 1 {
					e.State = store.PublishedDeleted
				}
				if err := tx.PutPublishedEvent(ctx, e); err != nil {
					return err
				}
				evs = append(evs, e)
			}
			_, err := tx.AddPublishedParticipant(ctx, evs[0].ID, "https://mobilizon.example/@ana", "j", store.ParticipantAccepted, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		p := &Pages{DB: db, Site: "Passerelle", Version: "test", PublicURL: base, Now: func() time.Time { return now }}
		if err := p.parse(); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /actors/{username}/events/{key}", p.ServePublishedEvent)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		get := func(path string) (int, http.Header, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			req.Header.Set("Accept", "text/html")
			req.Header.Set("Accept-Language", "en")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header, string(b)
		}
		code, h, body := get("/actors/club/events/" + evs[0].Key)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("page: %d %v\n%s", code, h, body)
		}
		golden.Check(t, filepath.Join("testdata", "published.en.html"), []byte(body))
		for _, want := range []string{
			"Repair café &lt;script&gt;alert(1)&lt;/script&gt;",       // SUMMARY escaped
			"Thursday 10 December 2026, 19:00 – 22:00 (Europe/Paris)", // in the event's zone
			"Salle des fêtes, 1 rue de la Paix, Paris",                // where
			"<b>tools</b>", // description's HTML kept
			`<a href="https://club.example/repair" rel="nofollow">`,        // the organiser's page
			"The Club <code>@club@pass.example</code>",                     // the calendar and its handle
			"<dt>Participants</dt><dd>1</dd>",                              // the count
			"approve each participant",                                     // restricted
			`value="https://pass.example/actors/club/events/` + evs[0].Key, // the address to paste
			"search for @club@pass.example and follow it",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		for _, bad := range []string{"<script", "steal()", "onerror", "javascript:", "<img"} {
			if strings.Contains(body, bad) {
				t.Errorf("page contains %q", bad)
			}
		}
		if code, _, _ := get("/actors/club/events/nope"); code != http.StatusNotFound {
			t.Errorf("unknown event: %d", code)
		}
		if code, _, _ := get("/actors/nobody/events/" + evs[0].Key); code != http.StatusNotFound {
			t.Errorf("unknown calendar: %d", code)
		}
		if code, _, body := get("/actors/club/events/" + evs[1].Key); code != http.StatusGone || !strings.Contains(body, "no longer published") {
			t.Errorf("deleted event: %d", code)
		}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.DeletePublishedCalendar(ctx, c) }); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := get("/actors/club/events/" + evs[0].Key); code != http.StatusGone {
			t.Errorf("event of a removed calendar: %d", code)
		}
	})
}
