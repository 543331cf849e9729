package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/store"
)

// The large calendar (-scale N, issue 20's 200,000 events over 1,000
// sources and 50,000 participants): N events over N/200 sources and N/4
// participants, each invited to one event, are written through the store
// package in transactions of a thousand (the rows, change log and
// rendered calendars the inbox would write, without 200,000 signed
// requests), then -scale-clients calendar clients each sync one source's
// calendar (sync-collection from their last token, as an app does) and
// poll its feed (with its ETag) every scaleThink. A client's first round,
// a full sync and a full feed, is timed apart: the periodic rounds are
// what a calendar app repeats.

// scaleThink is each large-calendar client's pause between two rounds.
const scaleThink = time.Second

type scaleResult struct {
	events, sources, participants int
	seedWall                      time.Duration
	syncs, feeds, failed          int
	syncP50, syncP99              time.Duration
	feedP50, feedP99              time.Duration
	// A client's first round (a full sync, a full feed) is a new
	// subscription, apart from the periodic rounds above.
	firstP50, firstP99 time.Duration
}

func (b *bench) scalePhase(ctx context.Context) (scaleResult, error) {
	n := b.cfg.scale
	res := scaleResult{events: n, sources: max(1, n/200), participants: n / 4}
	t0 := time.Now()
	if err := seed(ctx, b.inst.db, res.events, res.sources, res.participants); err != nil {
		return res, fmt.Errorf("scale: seed: %w", err)
	}
	res.seedWall = time.Since(t0)

	var mu sync.Mutex
	var syncs, feeds, firsts []time.Duration
	stop := time.Now().Add(b.cfg.scaleFor)
	var wg sync.WaitGroup
	for c := range b.cfg.scaleClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := "http://" + b.addrs[c%len(b.addrs)]
			slug := scaleSlug(c % res.sources)
			token, etag := "", ""
			for time.Now().Before(stop) {
				d, next, err := syncOnce(b.client, base+"/dav/calendars/public/"+slug+"/", token)
				fd, tag, ferr := feedOnce(b.client, base+"/feeds/"+slug+".ics", etag)
				mu.Lock()
				switch {
				case err != nil || ferr != nil:
					res.failed++
				case token == "":
					firsts = append(firsts, d, fd)
				default:
					syncs, feeds = append(syncs, d), append(feeds, fd)
				}
				if err == nil {
					token = next
				}
				if ferr == nil {
					etag = tag
				}
				mu.Unlock()
				time.Sleep(scaleThink)
			}
		}()
	}
	wg.Wait()
	res.syncs, res.feeds = len(syncs), len(feeds)
	res.syncP50, res.syncP99 = percentile(syncs, 50), percentile(syncs, 99)
	res.feedP50, res.feedP99 = percentile(feeds, 50), percentile(feeds, 99)
	res.firstP50, res.firstP99 = percentile(firsts, 50), percentile(firsts, 99)
	return res, nil
}

func scaleSlug(i int) string { return fmt.Sprintf("scale-%04d", i) }

// seed writes the large calendar's sources, events and participants.
func seed(ctx context.Context, db *store.DB, events, sources, participants int) error {
	srcs := make([]*bridges.Source, sources)
	err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		for i := range srcs {
			srcs[i] = &bridges.Source{Slug: scaleSlug(i), Name: fmt.Sprintf("Group %d", i), ActorURL: fmt.Sprintf("https://s%d.example/@group", i),
				Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
			if err := tx.SaveSource(ctx, srcs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	renderer := &ical.Renderer{}
	ids := make([]int64, events)
	year := time.Now().UTC().Truncate(24 * time.Hour)
	const batch = 1000
	for lo := 0; lo < events; lo += batch {
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			for i := lo; i < min(lo+batch, events); i++ {
				s := srcs[i%sources]
				start := year.Add(time.Duration(i%(365*24)) * time.Hour)
				ev := &bridges.StoredEvent{Event: bridges.Event{APID: fmt.Sprintf("https://s%d.example/events/%d", i%sources, i), SourceID: s.ID,
					URL: fmt.Sprintf("https://s%d.example/events/%d", i%sources, i), Title: fmt.Sprintf("Event %d: workshop, talk & party", i),
					DescriptionText: strings.Repeat("A description of some length, as events have. ", 8),
					Start:           start, End: start.Add(2 * time.Hour), TimeZone: "Europe/Paris", Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true,
					Place:         &bridges.Place{Name: "Maison des associations", Street: "1 rue de la Paix", Locality: "Nantes", Country: "France"},
					OrganizerName: s.Name, OrganizerURL: s.ActorURL, Published: year, Updated: year}}
				cal, err := renderer.RenderEvent(&ev.Event)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(cal)
				ev.Calendar, ev.ETag = cal, `"`+hex.EncodeToString(sum[:16])+`"`
				ev.CreatedAt, ev.ModifiedAt = time.Now(), time.Now()
				if err := tx.SaveEvent(ctx, ev); err != nil {
					return err
				}
				ids[i] = ev.ID
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for lo := 0; lo < participants; lo += batch {
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			now := time.Now()
			for i := lo; i < min(lo+batch, participants); i++ {
				p := &bridges.Participant{Address: fmt.Sprintf("member%d@example.org", i), CreatedAt: now}
				if err := tx.SaveParticipant(ctx, p); err != nil {
					return err
				}
				inv := &bridges.Invitation{ParticipantID: p.ID, EventID: ids[i*events/participants], State: bridges.StateInvited, CreatedAt: now, UpdatedAt: now}
				if err := tx.SaveInvitation(ctx, inv); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// feedOnce is one poll of a feed with the ETag of the last one: its time
// and the ETag it got.
func feedOnce(client *http.Client, url, etag string) (time.Duration, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, etag, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	switch resp.StatusCode {
	case http.StatusOK:
		return d, resp.Header.Get("ETag"), nil
	case http.StatusNotModified:
		return d, etag, nil
	}
	return d, etag, fmt.Errorf("feed: %s", resp.Status)
}
