package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/mail"
	"codeberg.org/passerelle/passerelle/store"
)

// more is the rest of the admin's screen: who runs, each source, what
// fails to go out, the mail queue, Mastodon accounts and jobs that need an
// eye (issue 18 item 3).
type more struct {
	Replicas      []statusReplica     `json:"replicas"`
	SourceList    []statusSource      `json:"source_list"`
	FailingHosts  []statusFailingHost `json:"failing_hosts"`
	MailQueue     store.Queue         `json:"mail_queue"`
	Mastodon      []statusMastodon    `json:"mastodon_accounts"`
	JobIssues     []store.JobIssue    `json:"job_issues"`
	DeliveryQueue statusDeliveryQueue `json:"delivery_queue"`
}

type statusReplica struct {
	store.Replica
	// Alive is set for a replica seen in the last two minutes (it writes
	// every 30 seconds).
	Alive bool `json:"alive"`
}

type statusSource struct {
	Slug         string    `json:"slug"`
	State        string    `json:"state"`
	Events       int       `json:"events"`
	LastActivity time.Time `json:"last_activity,omitzero"`
	LastFetch    time.Time `json:"last_fetch,omitzero"`
}

type statusFailingHost struct {
	store.FailingHost
	// NextTry is when the host's deliveries are tried again, about:
	// zero for a host whose deliveries were all given up.
	NextTry time.Time `json:"next_try,omitzero"`
}

type statusMastodon struct {
	Acct      string `json:"acct"`
	State     string `json:"state"`
	LastError string `json:"last_error,omitempty"`
}

type statusDeliveryQueue struct {
	Pending int       `json:"pending"`
	Oldest  time.Time `json:"oldest,omitzero"`
}

func (m *more) read(a *app, db *store.DB) error {
	now := time.Now()
	reps, err := db.Replicas(a.ctx, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	m.Replicas = []statusReplica{}
	for _, r := range reps {
		m.Replicas = append(m.Replicas, statusReplica{Replica: r, Alive: now.Sub(r.Seen) < 2*time.Minute})
	}
	srcs, err := db.Sources(a.ctx)
	if err != nil {
		return err
	}
	fetched, err := db.SourceFetches(a.ctx)
	if err != nil {
		return err
	}
	m.SourceList = []statusSource{}
	for _, s := range srcs {
		n, err := db.SourceEventCount(a.ctx, s.ID)
		if err != nil {
			return err
		}
		m.SourceList = append(m.SourceList, statusSource{Slug: s.Slug, State: string(s.State), Events: n, LastActivity: s.LastActivity, LastFetch: fetched[s.ID]})
	}
	hosts, err := db.FailingHosts(a.ctx, now)
	if err != nil {
		return err
	}
	m.FailingHosts = []statusFailingHost{}
	for _, h := range hosts {
		fh := statusFailingHost{FailingHost: h}
		if h.Retrying > 0 {
			fh.NextTry = h.LastTry.Add(outbox.Backoff(h.Attempts))
		}
		m.FailingHosts = append(m.FailingHosts, fh)
	}
	if m.MailQueue, err = db.QueueOf(a.ctx, mail.SendJob{}.Kind()); err != nil {
		return err
	}
	accts, err := db.MastodonAccounts(a.ctx)
	if err != nil {
		return err
	}
	m.Mastodon = []statusMastodon{}
	for _, ac := range accts {
		m.Mastodon = append(m.Mastodon, statusMastodon{Acct: ac.Acct, State: string(ac.State), LastError: ac.LastError})
	}
	// Stuck: running for longer than any job may (the rescuer should
	// have taken it back after store.RescueStuckAfter).
	if m.JobIssues, err = db.JobIssues(a.ctx, now.Add(-24*time.Hour), now.Add(-5*time.Minute)); err != nil {
		return err
	}
	if m.JobIssues == nil {
		m.JobIssues = []store.JobIssue{}
	}
	stats, err := db.ReadStats(a.ctx)
	if err != nil {
		return err
	}
	m.DeliveryQueue = statusDeliveryQueue{Pending: stats.DeliveriesPending, Oldest: stats.OldestPending}
	return nil
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04") + " (" + time.Since(t).Round(time.Second).String() + " ago)"
}

func (m *more) print(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(m.Replicas) == 0 {
		fmt.Fprintf(w, "replicas\tnone seen in the last day (is serve running?)\n")
	}
	for i, r := range m.Replicas {
		label := map[bool]string{true: "replicas", false: ""}[i == 0]
		state := "alive"
		if !r.Alive {
			state = "gone, last seen " + ago(r.Seen)
		}
		fmt.Fprintf(w, "%s\t%s %s, started %s, %s\n", label, r.Holder, r.Version, ago(r.Started), state)
	}
	fmt.Fprintf(w, "deliveries\t%d waiting, oldest %s\n", m.DeliveryQueue.Pending, ago(m.DeliveryQueue.Oldest))
	fmt.Fprintf(w, "mail queue\t%d waiting (%d deferred after a failure), oldest %s\n", m.MailQueue.Waiting, m.MailQueue.Deferred, ago(m.MailQueue.Oldest))
	if len(m.Mastodon) == 0 {
		fmt.Fprintf(w, "mastodon\tno account connected\n")
	}
	for i, ac := range m.Mastodon {
		label := map[bool]string{true: "mastodon", false: ""}[i == 0]
		line := ac.Acct + " " + ac.State
		if ac.LastError != "" {
			line += ": " + ac.LastError
		}
		fmt.Fprintf(w, "%s\t%s\n", label, line)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(m.SourceList) > 0 {
		fmt.Fprintln(out, "\nSources:")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "  slug\tstate\tevents\tlast activity\tlast fetch\n")
		for _, s := range m.SourceList {
			fmt.Fprintf(w, "  %s\t%s\t%d\t%s\t%s\n", s.Slug, s.State, s.Events, ago(s.LastActivity), ago(s.LastFetch))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(m.FailingHosts) > 0 {
		fmt.Fprintln(out, "\nDeliveries failing, by host (passerelle deliveries retry HOST | discard HOST):")
		for _, h := range m.FailingHosts {
			next := "given up"
			if !h.NextTry.IsZero() {
				next = "next try about " + h.NextTry.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(out, "  %s: %d retrying, %d given up; last try %s, %s\n    %s\n", h.Host, h.Retrying, h.Failed, ago(h.LastTry), next, h.LastError)
		}
	}
	if len(m.JobIssues) > 0 {
		fmt.Fprintln(out, "\nJobs discarded in the last day, or stuck running:")
		for _, j := range m.JobIssues {
			fmt.Fprintf(out, "  %d %s %s at %s: %s\n", j.ID, j.Kind, j.State, ago(j.At), j.Error)
		}
	}
	return nil
}
