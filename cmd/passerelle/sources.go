package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"codeberg.org/passerelle/passerelle/federation"
)

type sourcesCmd struct {
	List    sourcesListCmd    `cmd:"" default:"withargs" help:"List the sources (the default)."`
	Refresh sourcesRefreshCmd `cmd:"" help:"Backfill a source's events again."`
}

type sourcesListCmd struct {
	JSON bool `name:"json" help:"Print JSON Lines, one object per source."`
}

type sourceLine struct {
	Slug         string `json:"slug"`
	Name         string `json:"name"`
	Handle       string `json:"handle,omitempty"`
	ActorURL     string `json:"actor_url"`
	Software     string `json:"software"`
	State        string `json:"state"`
	Events       int    `json:"events"`
	LastActivity string `json:"last_activity,omitempty"`
}

func (c sourcesListCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	srcs, err := db.Sources(a.ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	if !c.JSON {
		fmt.Fprintln(w, "SOURCE\tNAME\tSOFTWARE\tSTATE\tEVENTS\tLAST ACTIVITY")
	}
	enc := json.NewEncoder(a.stdout)
	for _, s := range srcs {
		n, err := db.SourceEventCount(a.ctx, s.ID)
		if err != nil {
			return err
		}
		l := sourceLine{Slug: s.Slug, Name: s.Name, Handle: s.Handle, ActorURL: s.ActorURL, Software: s.Software, State: string(s.State), Events: n}
		if !s.LastActivity.IsZero() {
			l.LastActivity = s.LastActivity.UTC().Format(time.RFC3339)
		}
		if c.JSON {
			if err := enc.Encode(l); err != nil {
				return err
			}
			continue
		}
		last := l.LastActivity
		if last == "" {
			last = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", l.Slug, l.Name, l.Software, l.State, l.Events, last)
	}
	if c.JSON {
		return nil
	}
	return w.Flush()
}

type sourcesRefreshCmd struct {
	Source string `arg:"" name:"SOURCE" help:"The source's handle, actor URL or slug."`
}

func (c sourcesRefreshCmd) Run(a *app) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	src, err := in.federation.FindSource(a.ctx, c.Source)
	if err != nil {
		return usageError{err}
	}
	report, done := backfillProgress(a.stderr, "backfill "+src.Slug)
	br, err := in.federation.Backfill(a.ctx, src, federation.BackfillLimits{}, report)
	done()
	if err != nil {
		return err
	}
	printBackfill(a.stdout, src.Slug, br)
	return nil
}
