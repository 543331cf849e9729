package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuCap holds a replica to a share of the machine's CPU (-replica-cpu),
// as if it ran on a host of its own that size: a Linux cgroup with a CPU
// quota. On a machine as small as this one's two cores, a replica left
// uncapped takes every cycle PostgreSQL and the load generator leave, so
// a second replica has nothing to add; capped, each replica brings its own
// share, as a second host would, and what the run measures is whether the
// shared database and the coordination between replicas let that work
// add up.
type cpuCap struct {
	dir string
}

// newCPUCap makes the cgroup of one replica, allowed cores of CPU time
// per wall second. It needs root and a cgroup file system with the cpu
// controller (version 1's cpu hierarchy, or version 2 with cpu enabled
// for children of the root).
func newCPUCap(name string, cores float64) (*cpuCap, error) {
	const period = 100000 // µs
	quota := int(cores * period)
	if quota < 1000 {
		return nil, fmt.Errorf("-replica-cpu %g: want at least 0.01 of a core", cores)
	}
	if v2, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && strings.Contains(string(v2), "cpu") {
		dir := filepath.Join("/sys/fs/cgroup", name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("cgroup for -replica-cpu: %w", err)
		}
		c := &cpuCap{dir: dir}
		return c, c.write("cpu.max", fmt.Sprintf("%d %d", quota, period))
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err != nil {
		return nil, errors.New("-replica-cpu needs a cgroup file system with the cpu controller at /sys/fs/cgroup (version 2 with cpu in cgroup.subtree_control, or version 1's /sys/fs/cgroup/cpu)")
	}
	dir := filepath.Join("/sys/fs/cgroup/cpu", name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cgroup for -replica-cpu (run as root): %w", err)
	}
	c := &cpuCap{dir: dir}
	if err := c.write("cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
		return c, err
	}
	return c, c.write("cpu.cfs_quota_us", strconv.Itoa(quota))
}

func (c *cpuCap) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("cgroup for -replica-cpu: %w", err)
	}
	return nil
}

// add moves a process, with every thread it has and will have, into the
// cgroup.
func (c *cpuCap) add(pid int) error { return c.write("cgroup.procs", strconv.Itoa(pid)) }

// periods reads the cgroup's count of quota periods (100 ms each) in
// which its processes ran, and of those in which the quota ran out before
// the period ended: their ratio tells a replica bound by its cap from one
// bound by something else.
func (c *cpuCap) periods() (ran, throttled int64) {
	b, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nr_periods":
			ran = n
		case "nr_throttled":
			throttled = n
		}
	}
	return ran, throttled
}

// remove deletes the cgroup once its processes are gone.
func (c *cpuCap) remove() { os.Remove(c.dir) }

// capPeriods sums the replicas' quota periods (see cpuCap.periods).
func (b *bench) capPeriods() (ran, throttled int64) {
	for _, c := range b.caps {
		r, t := c.periods()
		ran, throttled = ran+r, throttled+t
	}
	return ran, throttled
}
