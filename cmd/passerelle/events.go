package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"codeberg.org/passerelle/passerelle/store"
)

type eventsCmd struct {
	Source string `placeholder:"SOURCE" help:"Only this source's events (handle, actor URL or slug)."`
	JSON   bool   `name:"json" help:"Print JSON Lines, one object per event."`
}

type eventLine struct {
	ID     int64  `json:"id"`
	Source string `json:"source"`
	Title  string `json:"title"`
	Status string `json:"status"`
	Start  string `json:"start"`
	// End and Timezone are null when the source gave none.
	End      *string `json:"end"`
	Timezone *string `json:"timezone"`
	URL      string  `json:"url"`
	APID     string  `json:"ap_id"`
}

// Run lists upcoming events: cancelled ones stay listed until they are
// over; deleted ones, drafts and those of unfollowed sources never appear.
func (c eventsCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	q := store.EventQuery{From: time.Now()}
	slugs := map[int64]string{}
	srcs, err := db.Sources(a.ctx)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		slugs[s.ID] = s.Slug
	}
	if c.Source != "" {
		src, err := findSource(a, db, c.Source)
		if err != nil {
			return err
		}
		q.SourceID = src.ID
	}
	evs, err := db.Events(a.ctx, q)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.stdout)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	if !c.JSON {
		fmt.Fprintln(w, "ID\tSTART\tSTATUS\tSOURCE\tTITLE")
	}
	for _, e := range evs {
		loc := e.Location()
		l := eventLine{ID: e.ID, Source: slugs[e.SourceID], Title: e.Title, Status: string(e.Status),
			Start: e.Start.In(loc).Format(time.RFC3339), URL: e.URL, APID: e.APID}
		if e.TimeZone != "" {
			l.Timezone = &e.TimeZone
		}
		if l.URL == "" {
			l.URL = e.APID
		}
		if !e.End.IsZero() {
			end := e.End.In(loc).Format(time.RFC3339)
			l.End = &end
		}
		if c.JSON {
			if err := enc.Encode(l); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", l.ID, e.Start.In(loc).Format("2006-01-02 15:04 MST"), l.Status, l.Source, l.Title)
	}
	if c.JSON {
		return nil
	}
	return w.Flush()
}
