// Command passerelle bridges federated events (Mobilizon, Gancio, PeerTube
// over ActivityPub) to calendars, email RSVPs and Mastodon. Each subcommand
// lives in a file of its own; this file parses the command line, loads the
// configuration and maps errors to exit codes: 2 for usage and
// configuration errors, 1 for failures at run time.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // event zones must not depend on the host's zone files

	"github.com/alecthomas/kong"

	"codeberg.org/passerelle/passerelle/config"
)

// cli is the whole command line. Global flags override the configuration
// file and the environment.
type cli struct {
	Config      string `short:"c" placeholder:"FILE" help:"Configuration file (default: ./passerelle.toml when it exists)."`
	Listen      string `placeholder:"ADDR" help:"Override listen."`
	PublicURL   string `name:"public-url" placeholder:"URL" help:"Override public_url."`
	DatabaseURL string `name:"database-url" placeholder:"URL" help:"Override database.url."`
	LogLevel    string `name:"log-level" placeholder:"LEVEL" help:"Override log.level (debug, info, warn, error)."`
	LogFormat   string `name:"log-format" placeholder:"FORMAT" help:"Override log.format (text, json)."`

	Serve       serveCmd       `cmd:"" help:"Run the server: HTTP (ActivityPub, CalDAV, feeds, pages), job workers and the mail watcher."`
	Migrate     migrateCmd     `cmd:"" help:"Bring the database schema up to date, then exit."`
	CheckConfig checkConfigCmd `cmd:"" name:"check-config" help:"Validate the configuration and print it, secrets redacted."`
	Version     versionCmd     `cmd:"" help:"Print the version."`
	Jobs        jobsCmd        `cmd:"" help:"Inspect the durable job queue."`
	Mastodon    mastodonCmd    `cmd:"" help:"Cross-post events to Mastodon accounts: connect, accounts, disconnect, route, unroute."`
	Follow      followCmd      `cmd:"" help:"Follow a Mobilizon group, a Gancio instance or any ActivityPub actor, and backfill its events."`
	Unfollow    unfollowCmd    `cmd:"" help:"Stop following a source; its events leave the calendars."`
	Sources     sourcesCmd     `cmd:"" help:"List the followed sources, or refresh one."`
	Block       blockCmd       `cmd:"" help:"Stop federating with a domain."`
	Unblock     unblockCmd     `cmd:"" help:"Federate with a domain again."`
	Events      eventsCmd      `cmd:"" help:"List upcoming events."`
	Invite      inviteCmd      `cmd:"" help:"Send invitations (iMIP) to upcoming events: --source SOURCE or --event ID, then addresses."`
	Mail        mailCmd        `cmd:"" help:"Mail RSVPs: receive one mail from an MTA."`
	Participant participantCmd `cmd:"" help:"What passerelle holds about a mail participant: export it, or erase it."`
}

// app is what every command gets: the loaded configuration, a logger and
// where to write.
type app struct {
	ctx    context.Context
	cfg    config.Config
	log    *slog.Logger
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// usageError is a mistake on the command line or in the configuration:
// exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cli
	exitCode := -1
	parser, err := kong.New(&c,
		kong.Name("passerelle"),
		kong.Description("Bridges federated events to calendars, email RSVPs and Mastodon."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
	)
	if err != nil {
		fmt.Fprintln(stderr, "passerelle:", err)
		return 1
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help
		return exitCode
	}
	if err != nil {
		fmt.Fprintln(stderr, "passerelle:", err)
		return 2
	}
	a := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	if kctx.Command() != "version" {
		cfg, err := c.load(environ)
		if err != nil {
			fmt.Fprintln(stderr, "passerelle: configuration:", err)
			return 2
		}
		a.cfg = cfg
	}
	a.log = newLogger(a.cfg.Log, stderr)
	if err := kctx.Run(a); err != nil {
		fmt.Fprintln(stderr, "passerelle:", err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		var ec exitCodeError
		if errors.As(err, &ec) {
			return ec.code
		}
		return 1
	}
	return 0
}

func (c *cli) load(environ []string) (config.Config, error) {
	cfg, err := config.Load(c.Config, environ)
	if err != nil {
		return cfg, err
	}
	for key, v := range map[string]string{
		"listen": c.Listen, "public_url": c.PublicURL, "database.url": c.DatabaseURL,
		"log.level": c.LogLevel, "log.format": c.LogFormat,
	} {
		if v != "" {
			if err := cfg.Set(key, v); err != nil {
				return cfg, err
			}
		}
	}
	return cfg, cfg.Validate()
}

func newLogger(l config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
