package config

import (
	"net"
	"strings"
)

// Metrics configures Prometheus metrics at /metrics.
type Metrics struct {
	// Enabled serves /metrics; off by default.
	Enabled bool `toml:"enabled"`
	// Listen serves /metrics on an address of its own (e.g.
	// 127.0.0.1:9464) instead of beside the pages on listen.
	Listen string `toml:"listen"`
	// Token, when set, is the bearer token a scrape must send
	// (Authorization: Bearer TOKEN).
	Token string `toml:"token" secret:"text"`
	// Profiling also serves Go's profiles (/debug/pprof/) where /metrics
	// is, behind the same token: what a benchmark or a slow instance
	// needs to say what bounds it. Off by default.
	Profiling bool `toml:"profiling"`
}

func (m *Metrics) validate(bad func(key, msg string, args ...any)) {
	if m.Listen != "" {
		if _, _, err := net.SplitHostPort(m.Listen); err != nil {
			bad("metrics.listen", "want host:port such as 127.0.0.1:9464; got %q", m.Listen)
		}
	}
	if m.Token != "" && len(strings.TrimSpace(m.Token)) < 16 {
		bad("metrics.token", "is %d characters; use at least 16 random ones (openssl rand -hex 16)", len(strings.TrimSpace(m.Token)))
	}
	if !m.Enabled && (m.Listen != "" || m.Token != "" || m.Profiling) {
		bad("metrics.enabled", "is false while metrics.listen, metrics.token or metrics.profiling is set: set enabled = true to serve /metrics")
	}
}
