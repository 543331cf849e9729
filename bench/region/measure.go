package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is the unit of /proc/PID/stat's utime and stime (USER_HZ,
// 100 on Linux whatever the kernel's own tick).
const clockTick = 10 * time.Millisecond

// cpuUse is CPU time (user + system) spent by serve's processes, by
// PostgreSQL's backends connected to the run's database, and by its
// shared processes (WAL writer, checkpointer, background writer,
// autovacuum launcher), which serve every database of the server but,
// on a server given to the benchmark, work for the run. Backends that
// exit between two readings (`mail receive`'s connections, autovacuum's
// workers) are missed.
type cpuUse struct {
	serve, pg, pgShared time.Duration
	// pgTicks is each PostgreSQL process's reading, by pid, for the next
	// difference; shared tells the shared ones.
	pgTicks map[int]time.Duration
	shared  map[int]bool
}

// cpu reads the CPU time of the run's processes now.
func (b *bench) cpu() cpuUse {
	var u cpuUse
	for _, p := range b.procs {
		u.serve += procCPU(p.Process.Pid)
	}
	if !strings.HasPrefix(b.inst.dbURL, "postgres") {
		return u
	}
	u.pgTicks, u.shared = map[int]time.Duration{}, map[int]bool{}
	name := dbName(b.inst.dbURL)
	out, err := psql(b.inst.dbURL, name, `SELECT pid, datname IS NULL FROM pg_stat_activity WHERE pid <> pg_backend_pid()
		AND (datname = current_database() OR backend_type IN ('walwriter', 'checkpointer', 'background writer', 'autovacuum launcher'))`)
	if err != nil {
		return u
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f, shared, _ := strings.Cut(line, "|")
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		t := procCPU(pid)
		u.pgTicks[pid] = t
		if shared == "t" {
			u.shared[pid] = true
			u.pgShared += t
		} else {
			u.pg += t
		}
	}
	return u
}

// since is the CPU spent from before to u: a process not seen before
// started since, and counts whole.
func (u cpuUse) since(before cpuUse) cpuUse {
	d := cpuUse{serve: u.serve - before.serve}
	for pid, t := range u.pgTicks {
		if u.shared[pid] {
			d.pgShared += t - before.pgTicks[pid]
		} else {
			d.pg += t - before.pgTicks[pid]
		}
	}
	return d
}

func (u cpuUse) total() time.Duration { return u.serve + u.pg + u.pgShared }

// procCPU is a process's utime + stime from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (utime and stime are fields 14
	// and 15 of the whole line, 12 and 13 from there).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}

// queueSample is the depth of the queues at one second of the run:
// signed deliveries waiting to go out, mails waiting to be sent, and
// incoming activities waiting to be processed.
type queueSample struct {
	at                       time.Duration
	deliveries, mails, inbox int
}

// sampleQueues reads the queues' depths every second until the returned
// stop is called.
func (b *bench) sampleQueues(ctx context.Context, out *[]queueSample) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			s := queueSample{at: time.Since(start)}
			s.deliveries, s.mails, s.inbox, _ = b.inst.db.QueueDepths(ctx)
			*out = append(*out, s)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// queueSeries prints a run's samples compactly: each queue's maximum, and
// at most n samples evenly spread.
func queueSeries(qs []queueSample, n int) string {
	if len(qs) == 0 {
		return "no samples"
	}
	var mx queueSample
	for _, q := range qs {
		mx.deliveries, mx.mails, mx.inbox = max(mx.deliveries, q.deliveries), max(mx.mails, q.mails), max(mx.inbox, q.inbox)
	}
	var parts []string
	step := max(1, (len(qs)+n-1)/n)
	for i := 0; i < len(qs); i += step {
		q := qs[i]
		parts = append(parts, fmt.Sprintf("%ds %d/%d/%d", int(q.at.Seconds()), q.deliveries, q.mails, q.inbox))
	}
	return fmt.Sprintf("max %d/%d/%d; %s", mx.deliveries, mx.mails, mx.inbox, strings.Join(parts, ", "))
}

// dbName is the database a PostgreSQL URL names.
func dbName(url string) string {
	name := url[strings.LastIndex(url, "/")+1:]
	if i := strings.Index(name, "?"); i >= 0 {
		name = name[:i]
	}
	return name
}
