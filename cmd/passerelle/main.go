// Command passerelle bridges federated events (Mobilizon, Gancio, PeerTube
// over ActivityPub) to calendars, email RSVPs and Mastodon. Each subcommand
// lives in a file of its own; this file parses the command line, loads the
// configuration and maps errors to exit codes: 2 for usage, input and
// configuration errors (78, EX_CONFIG, for mail receive, whose caller is
// an MTA), 1 for failures at run time.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
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
	Migrate     migrateCmd     `cmd:"" help:"Bring the database schema up to date, then exit; --to postgres://… moves a SQLite instance to PostgreSQL."`
	Backup      backupCmd      `cmd:"" help:"Copy the SQLite database to FILE while serve runs (PostgreSQL: use pg_dump)."`
	CheckConfig checkConfigCmd `cmd:"" name:"check-config" help:"Validate the configuration and print it, secrets redacted."`
	Version     versionCmd     `cmd:"" help:"Print the version."`
	Jobs        jobsCmd        `cmd:"" help:"Inspect the durable job queue."`
	Status      statusCmd      `cmd:"" help:"What this passerelle runs on and what went wrong: version, database, replicas, sources, deliveries failing by host, mail queue, Mastodon accounts, jobs, rejected incoming activities."`
	Deliveries  deliveriesCmd  `cmd:"" help:"Act on failing outgoing deliveries: retry HOST or discard HOST."`
	Mastodon    mastodonCmd    `cmd:"" help:"Cross-post events to Mastodon accounts: connect, accounts, disconnect, route, unroute."`
	Follow      followCmd      `cmd:"" help:"Follow a Mobilizon group, a Gancio instance or any ActivityPub actor, and backfill its events."`
	Unfollow    unfollowCmd    `cmd:"" help:"Stop following a source; its events leave the calendars."`
	Sources     sourcesCmd     `cmd:"" help:"List the followed sources, or refresh one."`
	Publish     publishCmd     `cmd:"" help:"Publish a calendar (.ics, webcal://, CalDAV) as a followable ActivityPub Group: publish URL --name SLUG, list, refresh, set, participants, remove."`
	Block       blockCmd       `cmd:"" help:"Stop federating with a domain."`
	Unblock     unblockCmd     `cmd:"" help:"Federate with a domain again."`
	Blocks      blocksCmd      `cmd:"" help:"List the blocked domains: federation.block of the configuration and those of passerelle block."`
	Events      eventsCmd      `cmd:"" help:"List upcoming events."`
	Invite      inviteCmd      `cmd:"" help:"Send invitations (iMIP) to upcoming events: --source SOURCE or --event ID, then addresses."`
	Mail        mailCmd        `cmd:"" help:"Mail RSVPs: receive one mail from an MTA."`
	Participant participantCmd `cmd:"" help:"What passerelle holds about a mail participant: export it, or erase it."`
	Help        helpCmd        `cmd:"" help:"Show help: passerelle help [COMMAND…]."`
}

// app is what every command gets: the loaded configuration, a logger and
// where to write.
type app struct {
	ctx context.Context
	cfg config.Config
	// configFile is the configuration file that was read, "" when none
	// was (no --config and no ./passerelle.toml).
	configFile string
	log        *slog.Logger
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
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
		fmt.Fprintln(stderr, "passerelle:", humanParseError(err))
		return 2
	}
	command := kctx.Command()
	a := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, configFile: c.configFile()}
	// An MTA bounces on 2 as on any status it does not know; EX_CONFIG
	// tells its admin the fault is passerelle's configuration.
	configErrorCode := 2
	if command == "mail receive" {
		configErrorCode = exConfig
	}
	if command != "version" && !strings.HasPrefix(command, "help") {
		cfg, err := c.load(environ)
		if err != nil {
			fmt.Fprintln(stderr, "passerelle: configuration:", err)
			return configErrorCode
		}
		a.cfg = cfg
	}
	a.log = newLogger(a.cfg.Log, commandLogLevel(command, a.cfg.Log.Level, c.LogLevel != ""), stderr)
	if err := kctx.Run(a); err != nil {
		fmt.Fprintln(stderr, "passerelle:", err)
		var ec exitCodeError
		if errors.As(err, &ec) {
			return ec.code
		}
		var u usageError
		if errors.As(err, &u) {
			return configErrorCode
		}
		return 1
	}
	return 0
}

// configFile is the configuration file Load reads: --config, or
// ./passerelle.toml when it exists, or none.
func (c *cli) configFile() string {
	if c.Config != "" {
		return c.Config
	}
	if _, err := os.Stat(config.DefaultFile); err == nil {
		return config.DefaultFile
	}
	return ""
}

// configNote adds to a message about the database why the default one
// was looked for, when no configuration file was read.
func (a *app) configNote() string {
	if a.configFile != "" || a.cfg.Database.URL != "" {
		return ""
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = "the current folder"
	}
	return fmt.Sprintf(" (there is no %s in %s, so the default data_dir applies)", config.DefaultFile, wd)
}

// commandLogLevel is the log level of one run. serve and migrate log as
// configured. Other commands print what they do on stdout, and the
// libraries' INFO lines (a River migrator saying there is nothing to do,
// "event stored" for each event of a backfill) would only bury it: they
// log warnings and errors unless debug is configured or --log-level was
// given for this run.
func commandLogLevel(command, configured string, flagGiven bool) slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(configured)); err != nil {
		level = slog.LevelInfo
	}
	if command == "serve" || command == "migrate" || flagGiven || level < slog.LevelInfo {
		return level
	}
	return max(level, slog.LevelWarn)
}

// humanParseError rewords kong's errors where they speak its own
// language: a flag given without its value says so.
func humanParseError(err error) string {
	msg := err.Error()
	if m := missingValueRE.FindStringSubmatch(msg); m != nil {
		got := "nothing"
		if m[3] != "<EOL>" {
			got = fmt.Sprintf("%q", m[2])
		}
		return fmt.Sprintf("%s needs a value (%s), got %s; see `passerelle help %s`", m[1], flagPlaceholder(err, m[1]), got, commandOf(err))
	}
	if m := missingArgRE.FindStringSubmatch(msg); m != nil {
		cmd := commandOf(err)
		return fmt.Sprintf("%s needs %s; see `passerelle help %s`", cmd, m[1], cmd)
	}
	return msg
}

// missingArgRE matches kong's `expected "<SOURCE>"` for a missing
// argument.
var missingArgRE = regexp.MustCompile(`^expected "<([^>]+)>(?: \.\.\.)?"`)

// missingValueRE matches kong's "--source: expected string value but got
// "EOL" (<EOL>)" and "… but got "--json" (long flag)".
var missingValueRE = regexp.MustCompile(`^(-[-\w]+): expected [\w-]+ value but got "([^"]*)" \(([^)]*)\)`)

// flagPlaceholder is what a flag's help shows as its value (SOURCE, ID…).
func flagPlaceholder(err error, flag string) string {
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		for _, f := range pe.Context.Flags() {
			if "--"+f.Name == flag {
				return f.FormatPlaceHolder()
			}
		}
	}
	return "see its help"
}

// commandOf is the command a parse error was in, for a pointer to its help.
func commandOf(err error) string {
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		var words []string
		for _, w := range strings.Fields(pe.Context.Command()) {
			if !strings.HasPrefix(w, "<") { // an argument's placeholder
				words = append(words, w)
			}
		}
		return strings.Join(words, " ")
	}
	return ""
}

// helpCmd is `passerelle help [COMMAND…]`: the same as --help.
type helpCmd struct {
	Command []string `arg:"" optional:"" placeholder:"COMMAND" help:"The command to explain (e.g. follow, or mastodon route)."`
}

// Run prints the usage of the named command, or of passerelle.
func (h helpCmd) Run(kctx *kong.Context) error {
	target, err := kong.Trace(kctx.Kong, h.Command)
	if err != nil {
		return usageError{err}
	}
	if target.Error != nil {
		return usageError{fmt.Errorf("help %s: %w", strings.Join(h.Command, " "), target.Error)}
	}
	return target.PrintUsage(false)
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

func newLogger(l config.Log, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
