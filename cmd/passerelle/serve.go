package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"codeberg.org/passerelle/passerelle/federation"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/store"
	"codeberg.org/passerelle/passerelle/web"
)

type serveCmd struct {
	ShutdownTimeout    time.Duration `default:"20s" help:"How long SIGTERM waits for requests and running jobs to finish."`
	AcceptNewPublicURL bool          `name:"accept-new-public-url" help:"Start although public_url is not the URL this database's actors were made under (every actor id changes: follows and participations made before break)."`
	MastodonPoll       time.Duration `name:"mastodon-poll" default:"30s" help:"How often the replies under the events' Mastodon posts are read, per connected account."`
}

func (c serveCmd) Run(a *app) error {
	db, err := migrateDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	in, err := newInstance(a, db)
	if err != nil {
		return err
	}
	if err := checkPublicURL(a, in, c.AcceptNewPublicURL); err != nil {
		return err
	}
	// The instance actor and its key are made at first start.
	if err := in.federation.Start(a.ctx); err != nil {
		return err
	}

	// Sources' passwords stored in clear by an older version are sealed.
	if err := in.publisher.SealStoredPasswords(a.ctx); err != nil {
		return err
	}

	// A broken route template stops serve here, naming the route.
	if err := in.mastodon.ValidateRoutes(a.ctx); err != nil {
		return err
	}
	if err := in.mastodon.Recover(a.ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (the listen key): %w", a.cfg.Listen, err)
	}
	// Jobs run on a context of their own: SIGTERM must let them finish
	// (drain), not cancel them at once.
	stopJobs, err := in.db.StartJobs(context.WithoutCancel(a.ctx), store.Jobs{Workers: in.workers, Periodic: in.periodic})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           web.Logged(web.NoSniff(in.mux), a.log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	// Metrics beside the pages, or on an address of their own (which a
	// reverse proxy need not expose).
	var metricsSrv *http.Server
	if m := a.cfg.Metrics; m.Enabled {
		mux := in.mux
		if m.Listen != "" {
			mux = http.NewServeMux()
		}
		mux.Handle("GET /metrics", metrics.Handler(in.db, m.Token))
		if m.Profiling {
			mux.Handle("/debug/pprof/", metrics.Profiles(m.Token))
		}
		if m.Listen != "" {
			mln, err := net.Listen("tcp", m.Listen)
			if err != nil {
				ln.Close()
				_ = stopJobs(context.Background())
				return fmt.Errorf("listen on %s (metrics.listen): %w", m.Listen, err)
			}
			metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = metricsSrv.Serve(mln) }()
			a.log.Info("metrics serving", "listen", mln.Addr().String())
		}
	}
	// Each replica says it is alive, for `passerelle status`.
	go heartbeat(a, in.db)
	if in.mail != nil && in.mail.watcher != nil {
		// The watcher stops with a.ctx; its lease lets one replica watch.
		go func() { _ = in.mail.watcher.Run(a.ctx) }()
	}
	// Replies to the events' statuses: one replica reads each account
	// (a lease per account), and it stops with a.ctx.
	in.replies.Interval = c.MastodonPoll
	go func() { _ = in.replies.Run(a.ctx) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.log.Info("passerelle serving", "listen", ln.Addr().String(), "public_url", a.cfg.PublicURL,
		"database", in.db.Backend(), "version", versionString())

	select {
	case err = <-served:
	case <-a.ctx.Done():
		a.log.Info("shutting down", "timeout", c.ShutdownTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	shutErr := srv.Shutdown(ctx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(ctx)
	}
	jobsErr := stopJobs(ctx)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return errors.Join(shutErr, jobsErr)
}

// checkPublicURL refuses to go on when public_url is not the URL the
// database's actors were made under (a configuration error: exit 2),
// unless accept is set.
func checkPublicURL(a *app, in *instance, accept bool) error {
	err := in.federation.CheckPublicURL(a.ctx, accept)
	var changed *federation.PublicURLChanged
	if errors.As(err, &changed) {
		return usageError{err}
	}
	return err
}

// heartbeat records this serve process in the replicas table every 30
// seconds until serve stops.
func heartbeat(a *app, db *store.DB) {
	host, _ := os.Hostname()
	r := store.Replica{Holder: host + "/" + strconv.Itoa(os.Getpid()), Version: versionString(), Started: time.Now()}
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		r.Seen = time.Now()
		if err := db.SeenReplica(a.ctx, r); err != nil && a.ctx.Err() == nil {
			a.log.Warn("cannot record this replica for passerelle status", "err", err)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
	}
}
