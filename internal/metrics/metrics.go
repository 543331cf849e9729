// Package metrics holds passerelle's Prometheus metrics: the counters and
// histograms each area adds to as work happens, and the gauges read from
// the database when Prometheus scrapes. No label carries an address, a
// token, a URL or free text: every label value comes from a small fixed
// set, so the number of series stays bounded whatever the traffic.
package metrics

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"codeberg.org/passerelle/passerelle/store"
)

var (
	// InboxActivities counts the activities POSTed to the inbox, by type
	// and by what became of them: accepted (stored for processing),
	// bad_signature, blocked, malformed, too_large, and replay (a copy
	// of an activity already processed, dropped by the inbox job).
	InboxActivities = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_inbox_activities_total",
		Help: "Activities received at the inbox, by activity type and result.",
	}, []string{"type", "result"})
	// Deliveries counts delivery attempts by result (delivered, retry,
	// failed, gone) and host class (public, private).
	Deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_deliveries_total",
		Help: "Delivery attempts of outgoing activities, by result and class of the destination host.",
	}, []string{"result", "host_class"})
	// Mails counts mails passerelle tried to send, by result: sent,
	// failed (refused for good), deferred (to be retried), suppressed
	// (the address unsubscribed).
	Mails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_mails_total",
		Help: "Outgoing mails, by result.",
	}, []string{"result"})
	// Answers counts participants' answers, by the channel they came
	// from (mail, web, calendar, fediverse) and the answer.
	Answers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_rsvp_answers_total",
		Help: "Answers to invitations, by channel and answer.",
	}, []string{"channel", "answer"})
	// MastodonPosts counts cross-posts by result: posted, failed,
	// reconnect (the account needs connecting again).
	MastodonPosts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_mastodon_posts_total",
		Help: "Statuses posted to Mastodon accounts, by result.",
	}, []string{"result"})
	// Requests times the calendar requests (CalDAV and .ics feeds).
	Requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "passerelle_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests to the calendars (CalDAV and feeds), by handler, method and status code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"handler", "method", "code"})
)

// activityTypes are the activity types counted by name; any other is
// "other".
var activityTypes = map[string]bool{"Create": true, "Update": true, "Delete": true, "Announce": true, "Accept": true,
	"Reject": true, "Follow": true, "Undo": true, "Join": true, "Leave": true, "TentativeAccept": true}

// ActivityType is t, or "other" for a type not in the fixed set.
func ActivityType(t string) string {
	if activityTypes[t] {
		return t
	}
	return "other"
}

var methods = map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "PROPFIND": true, "REPORT": true, "PUT": true,
	"DELETE": true, "POST": true, "PROPPATCH": true, "MKCALENDAR": true}

// Method is m, or "other".
func Method(m string) string {
	if methods[m] {
		return m
	}
	return "other"
}

// HostClass says whether a host is a loopback or private address
// ("private", which only federation.allow_private_networks lets through)
// or anything else ("public"): the class, never the name.
func HostClass(host string) string {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	if strings.EqualFold(h, "localhost") {
		return "private"
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && (a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()) {
		return "private"
	}
	return "public"
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Instrument times the requests h answers, as handler.
func Instrument(handler string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		Requests.WithLabelValues(handler, Method(r.Method), strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
	})
}

// dbCollector reads the gauges from the database at each scrape.
type dbCollector struct {
	db *store.DB

	sources, events, participants, pending, oldest, jobs, mailLog *prometheus.Desc
	up                                                            *prometheus.Desc
}

func newDBCollector(db *store.DB) *dbCollector {
	return &dbCollector{db: db,
		sources:      prometheus.NewDesc("passerelle_sources", "Followed sources, by state.", []string{"state"}, nil),
		events:       prometheus.NewDesc("passerelle_events", "Stored events, not deleted.", nil, nil),
		participants: prometheus.NewDesc("passerelle_participants", "Participants passerelle speaks for.", nil, nil),
		pending:      prometheus.NewDesc("passerelle_delivery_queue_length", "Outgoing deliveries waiting to be sent or retried.", nil, nil),
		oldest:       prometheus.NewDesc("passerelle_delivery_queue_oldest_age_seconds", "Age of the oldest delivery still waiting; 0 when none waits.", nil, nil),
		jobs:         prometheus.NewDesc("passerelle_jobs", "Jobs in the durable queue, by kind and state.", []string{"kind", "state"}, nil),
		mailLog:      prometheus.NewDesc("passerelle_mail_log", "Outgoing mails recorded in the mail log, by status.", []string{"status"}, nil),
		up:           prometheus.NewDesc("passerelle_database_up", "1 when the database answered this scrape, 0 when it did not.", nil, nil),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sources, c.events, c.participants, c.pending, c.oldest, c.jobs, c.mailLog, c.up} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.db.ReadStats(ctx)
	var jobs []store.JobCount
	if err == nil {
		jobs, err = c.db.JobCounts(ctx)
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for state, n := range s.SourcesByState {
		ch <- prometheus.MustNewConstMetric(c.sources, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(s.Events))
	ch <- prometheus.MustNewConstMetric(c.participants, prometheus.GaugeValue, float64(s.Participants))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.DeliveriesPending))
	age := 0.0
	if !s.OldestPending.IsZero() {
		age = time.Since(s.OldestPending).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	for _, j := range jobs {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(j.Count), j.Kind, j.State)
	}
	for status, n := range s.MailsByStatus {
		ch <- prometheus.MustNewConstMetric(c.mailLog, prometheus.GaugeValue, float64(n), status)
	}
}

// Handler serves /metrics: passerelle's metrics, the database's gauges,
// and the Go runtime's and the process's. With a token, a request must
// carry "Authorization: Bearer TOKEN".
func Handler(db *store.DB, token string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(InboxActivities, Deliveries, Mails, Answers, MastodonPosts, Requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newDBCollector(db))
	return Guard(token, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
}

// Profiles is Go's profiling (net/http/pprof) for metrics.profiling, to
// mount at /debug/pprof/ behind the same token as /metrics.
func Profiles(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return Guard(token, mux)
}

// Guard asks for the bearer token of metrics.token, when one is set.
func Guard(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="passerelle metrics"`)
			http.Error(w, "metrics need the bearer token of metrics.token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
