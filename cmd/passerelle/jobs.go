package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

type jobsCmd struct {
	List  jobsListCmd  `cmd:"" default:"1" help:"Count jobs by kind and state."`
	Probe jobsProbeCmd `cmd:"" help:"Enqueue a job that appends a line to FILE, to check that serve runs jobs."`
}

type jobsListCmd struct{}

func (jobsListCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	counts, err := db.JobCounts(a.ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tSTATE\tJOBS")
	for _, c := range counts {
		fmt.Fprintf(w, "%s\t%s\t%d\n", c.Kind, c.State, c.Count)
	}
	return w.Flush()
}

type jobsProbeCmd struct {
	File  string        `arg:"" name:"FILE" help:"File the job appends a line to."`
	In    time.Duration `help:"Run the job after this delay." default:"0s"`
	Label string        `help:"Text of the line." default:"probe"`
	Hold  time.Duration `help:"Make the job take this long (to watch SIGTERM drain it)." default:"0s"`
}

func (c jobsProbeCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	path, err := filepath.Abs(c.File)
	if err != nil {
		return err
	}
	opts := bridges.JobOpts{}
	if c.In > 0 {
		opts.RunAt = time.Now().Add(c.In)
	}
	if err := db.Enqueue(a.ctx, store.ProbeArgs{File: path, Label: c.Label, Hold: c.Hold}, opts); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "probe job enqueued: a running `passerelle serve` will append a line to %s\n", path)
	return nil
}
