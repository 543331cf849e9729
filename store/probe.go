package store

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/riverqueue/river"
)

// ProbeArgs is a job that appends one line to a file: `passerelle jobs
// probe` uses it to show an operator (and the durability test) that serve
// runs jobs, once each, across restarts.
type ProbeArgs struct {
	File  string `json:"file"`
	Label string `json:"label"`
	// Hold makes the job take that long before it writes, to watch a
	// SIGTERM drain it.
	Hold time.Duration `json:"hold,omitempty"`
}

// Kind names the job.
func (ProbeArgs) Kind() string { return "probe" }

// ProbeWorker runs ProbeArgs jobs.
type ProbeWorker struct {
	river.WorkerDefaults[ProbeArgs]
}

// Work appends the job's label and id to its file.
func (ProbeWorker) Work(ctx context.Context, job *river.Job[ProbeArgs]) error {
	select {
	case <-time.After(job.Args.Hold):
	case <-ctx.Done():
		return ctx.Err()
	}
	f, err := os.OpenFile(job.Args.File, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%s job=%d attempt=%d\n", job.Args.Label, job.ID, job.Attempt); err != nil {
		f.Close()
		return fmt.Errorf("probe: %w", err)
	}
	return f.Close()
}

// JobCount is how many jobs of a kind are in a state.
type JobCount struct {
	Kind  string
	State string
	Count int
}

// JobCounts counts the queue's jobs by kind and state.
func (db *DB) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, err := db.query(ctx, "SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state ORDER BY kind, state")
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.Kind, &c.State, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
