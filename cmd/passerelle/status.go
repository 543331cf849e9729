package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// statusCmd is the admin's one screen: what runs, on what, and what went
// wrong that passerelle could not fix itself.
type statusCmd struct {
	JSON     bool `name:"json" help:"Print JSON, for scripts."`
	Rejected int  `help:"How many of the newest rejected activities to list." default:"10"`
}

type statusReport struct {
	Version  string         `json:"version"`
	Database string         `json:"database"`
	Backend  string         `json:"backend"`
	Schema   int            `json:"schema"`
	Sources  map[string]int `json:"sources"`
	// Participations counts invitations by channel (mail, fediverse) and
	// state (joined, pending, left…).
	Participations map[string]map[string]int `json:"participations"`
	Jobs           []statusJobs              `json:"jobs"`
	// RejectedTotal counts every activity the inbox gave up on; Rejected
	// lists the newest.
	RejectedTotal int              `json:"rejected_total"`
	Rejected      []statusRejected `json:"rejected"`
	// Published are the calendars passerelle publishes (issue 19).
	Published []publishLine `json:"published"`
	more
}

type statusJobs struct {
	Kind  string `json:"kind"`
	State string `json:"state"`
	Count int    `json:"count"`
}

type statusRejected struct {
	At       time.Time `json:"at"`
	Activity string    `json:"activity"`
	Signer   string    `json:"signer"`
	Reason   string    `json:"reason"`
}

func (c statusCmd) Run(a *app) error {
	if c.Rejected < 0 {
		return usageError{fmt.Errorf("--rejected %d: give a count of 0 or more", c.Rejected)}
	}
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	r := statusReport{Version: versionString(), Database: databaseWhere(a.cfg.DatabaseURL()), Backend: db.Backend(), Sources: map[string]int{}}
	if r.Schema, err = db.SchemaVersion(a.ctx); err != nil {
		return err
	}
	srcs, err := db.Sources(a.ctx)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		r.Sources[string(s.State)]++
	}
	if r.Participations, err = db.ParticipationCounts(a.ctx); err != nil {
		return err
	}
	counts, err := db.JobCounts(a.ctx)
	if err != nil {
		return err
	}
	for _, jc := range counts {
		r.Jobs = append(r.Jobs, statusJobs{Kind: jc.Kind, State: jc.State, Count: jc.Count})
	}
	rejected, total, err := db.RejectedInboxActivities(a.ctx, c.Rejected)
	if err != nil {
		return err
	}
	if err := r.more.read(a, db); err != nil {
		return err
	}
	if r.Published, err = publishedLines(a.ctx, db); err != nil {
		return err
	}
	r.RejectedTotal = total
	r.Rejected = []statusRejected{}
	for _, x := range rejected {
		r.Rejected = append(r.Rejected, statusRejected{At: x.RejectedAt, Activity: x.ActivityID, Signer: x.Signer, Reason: x.Reason})
	}
	if c.JSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "version\t%s\n", r.Version)
	fmt.Fprintf(w, "database\t%s (%s, schema %d)\n", r.Database, r.Backend, r.Schema)
	fmt.Fprintf(w, "sources\t%d followed, %d pending, %d unfollowed or refused\n", r.Sources[string(bridges.SourceFollowed)],
		r.Sources[string(bridges.SourcePending)], r.Sources[string(bridges.SourceUnfollowed)]+r.Sources[string(bridges.SourceRefused)])
	fmt.Fprintf(w, "participations\t%s\n", participationLine(r.Participations))
	if len(r.Jobs) == 0 {
		fmt.Fprintf(w, "jobs\tnone queued\n")
	}
	for i, j := range r.Jobs {
		label := ""
		if i == 0 {
			label = "jobs"
		}
		fmt.Fprintf(w, "%s\t%s %s: %d\n", label, j.Kind, j.State, j.Count)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := r.more.print(a.stdout); err != nil {
		return err
	}
	if len(r.Published) > 0 {
		fmt.Fprintln(a.stdout, "\nPublished calendars:")
		if err := printPublished(a.stdout, r.Published); err != nil {
			return err
		}
	}
	if total == 0 {
		fmt.Fprintln(a.stdout, "\nNo incoming activity was rejected.")
		return nil
	}
	fmt.Fprintf(a.stdout, "\nIncoming activities rejected after every attempt: %d in all, the newest first (their batches were stored; see the log for each try):\n", total)
	for _, x := range r.Rejected {
		fmt.Fprintf(a.stdout, "  %s  %s\n    from %s: %s\n", x.At.Local().Format("2006-01-02 15:04"), x.Activity, x.Signer, x.Reason)
	}
	return nil
}

// participationLine says, per channel, how many are going and how many
// wait for the organisers: "mail 3 going (1 awaiting approval), fediverse
// 1 going".
func participationLine(counts map[string]map[string]int) string {
	var parts []string
	for _, channel := range []string{"mail", "fediverse"} {
		c := counts[channel]
		if len(c) == 0 {
			continue
		}
		going := 0
		for state, n := range c {
			if bridges.ParticipationState(state).Joined() {
				going += n
			}
		}
		part := fmt.Sprintf("%s %d going", channel, going)
		if n := c[string(bridges.StatePending)]; n > 0 {
			part += fmt.Sprintf(" (%d awaiting approval)", n)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
