package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/internal/seal"
	"codeberg.org/passerelle/passerelle/publish"
	"codeberg.org/passerelle/passerelle/store"
)

type publishCmd struct {
	Add       publishAddCmd       `cmd:"" default:"withargs" help:"Publish a calendar (the default): passerelle publish URL --name SLUG."`
	List      publishListCmd      `cmd:"" help:"List the published calendars, with the last poll's error."`
	Refresh   publishRefreshCmd   `cmd:"" help:"Poll a published calendar now and send its followers what changed."`
	Remove    publishRemoveCmd    `cmd:"" help:"Stop publishing a calendar: its followers are sent a Delete of each event and of the Group, which then answers 410 Gone."`
	Followers publishFollowersCmd `cmd:"" help:"List a published calendar's followers, those waiting for approval too."`
	Approve   publishApproveCmd   `cmd:"" help:"Accept a follow held by --approve: passerelle publish approve SLUG ACTOR_URL (with --event, a Join held by --join-mode restricted)."`
	Reject    publishRejectCmd    `cmd:"" help:"Refuse a follow held by --approve: passerelle publish reject SLUG ACTOR_URL (with --event, a Join held by --join-mode restricted)."`

	// Join modes and participants (issue 19, h19fed).
	Set          publishSetCmd          `cmd:"" help:"Change a published calendar's settings: passerelle publish set SLUG --join-mode MODE."`
	Participants publishParticipantsCmd `cmd:"" help:"List the participants of a published calendar's events, those waiting for approval too."`
}

type publishAddCmd struct {
	URL      string `arg:"" name:"URL" help:"The calendar: an .ics or webcal:// feed, or a CalDAV calendar collection (polled by its sync-token or ctag)."`
	Name     string `required:"" placeholder:"SLUG" help:"The Group's username: @SLUG@host (a-z, 0-9, _)."`
	Title    string `placeholder:"T" help:"The Group's display name (default: the slug)."`
	Summary  string `placeholder:"S" help:"The Group's description."`
	User     string `placeholder:"U" help:"User name for a calendar behind HTTP Basic auth."`
	Password string `placeholder:"P" help:"Password for a calendar behind HTTP Basic auth."`
	Contact  string `placeholder:"ADDRESS" help:"The organiser's mail address, told of participations."`
	Approve  bool   `help:"Hold each new follower until passerelle publish approve (default: accept follows automatically)."`
	// WriteAttendees is off by default: it writes to the organiser's
	// calendar, which passerelle otherwise only reads.
	WriteAttendees bool `name:"write-attendees" help:"Add each participant who joins an event as an ATTENDEE of it in the CalDAV calendar (and remove them on Leave); needs a writable CalDAV collection and its --user/--password."`
	// How the events take participants.
	JoinMode string `name:"join-mode" default:"free" placeholder:"MODE" enum:"free,restricted,external,none" help:"How the events take participants from the fediverse: free (a Join is accepted), restricted (held until publish approve … --event), external (joined on the calendar's own event page, Join ignored) or none (Join ignored)."`
}

// slugPattern is Mobilizon's username alphabet: a Group named otherwise
// could not be found from there.
var slugPattern = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// newPublisher builds what polls published calendars, on federation's
// outbox, with an outbound client of its own (a calendar may take longer
// than an actor document, but not longer than a poll job's time).
// The sources' passwords are sealed under the instance secret.
func newPublisher(a *app, in *instance) (*publish.Publisher, error) {
	allow := a.cfg.Federation.AllowPrivateNetworks
	client := outbound.New(outbound.Options{AllowPrivateNetworks: allow, Timeout: 20 * time.Second, UserAgent: "passerelle/" + versionString() + " (+" + a.cfg.PublicURL + ")"})
	secret, err := instanceSecret(a)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(secret, "published calendar source password")
	if err != nil {
		return nil, err
	}
	return &publish.Publisher{DB: in.db, Out: in.federation.Outbox, Fetch: &publish.Fetcher{Client: client, AllowPrivate: allow},
		Passwords: box, Log: a.log.With("component", "publish")}, nil
}

// Run fetches the calendar once and refuses (exit 2) what is not one,
// then creates the Group and publishes the events. serve polls it from
// then on.
func (c publishAddCmd) Run(a *app) error {
	if !slugPattern.MatchString(c.Name) {
		return usageError{fmt.Errorf("--name %q: want 1 to 40 of a-z, 0-9 and _ (it becomes @%s@host)", c.Name, c.Name)}
	}
	if c.Contact != "" && !strings.Contains(c.Contact, "@") {
		return usageError{fmt.Errorf("--contact %q is not a mail address", c.Contact)}
	}
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	if _, err := in.db.LocalActorByUsername(a.ctx, c.Name); err == nil {
		return usageError{fmt.Errorf("the name %q is taken (`passerelle publish list` shows published calendars)", c.Name)}
	} else if !errors.Is(err, bridges.ErrNotFound) {
		return err
	}
	pc := &store.PublishedCalendar{Slug: c.Name, URL: strings.TrimSpace(c.URL), Username: c.User, Password: c.Password,
		Title: c.Title, Summary: c.Summary, Contact: c.Contact, Approve: c.Approve, WriteAttendees: c.WriteAttendees, CreatedAt: time.Now(), JoinMode: c.JoinMode}
	p := in.publisher
	body, err := p.Fetch.Probe(a.ctx, pc)
	if err != nil {
		return usageError{fmt.Errorf("cannot publish %s: %w", c.URL, err)}
	}
	if c.WriteAttendees && pc.Kind != store.KindCalDAV {
		return usageError{fmt.Errorf("--write-attendees: %s is not a CalDAV calendar collection (a PROPFIND finds none), so there is no event to write an ATTENDEE to", c.URL)}
	}
	occs, problems, err := publish.Parse(body, time.Now())
	if err != nil {
		return usageError{fmt.Errorf("cannot publish %s: %w", c.URL, err)}
	}
	if len(occs) == 0 && len(problems) > 0 {
		return usageError{fmt.Errorf("cannot publish %s: none of its events can be published: %v", c.URL, problems)}
	}
	priv, pub, err := signing.GenerateKeyPEM()
	if err != nil {
		return err
	}
	title := c.Title
	if title == "" {
		title = c.Name
	}
	// The password was needed in clear for the first fetch; the database
	// keeps it sealed.
	if pc.Password, err = p.SealPassword(pc, pc.Password); err != nil {
		return err
	}
	err = in.db.Tx(a.ctx, func(ctx2 context.Context, tx *store.Tx) error {
		return tx.CreatePublishedCalendar(ctx2, pc, &store.LocalActor{DisplayName: title, PrivateKeyPEM: priv, PublicKeyPEM: pub})
	})
	if err != nil {
		return err
	}
	host := ""
	if u, err := url.Parse(a.cfg.PublicURL); err == nil {
		host = u.Host
	}
	fmt.Fprintf(a.stdout, "published %s as @%s@%s (%s)\n", c.URL, c.Name, host, in.federation.ActorURL(c.Name))
	res, err := p.Poll(a.ctx, c.Name)
	if err != nil {
		fmt.Fprintf(a.stderr, "first poll of %s failed (serve polls it again every %s; `passerelle publish refresh %s` now): %v\n", c.Name, publish.PollInterval, c.Name, err)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s: %s\n", c.Name, res)
	for _, pr := range res.Problems {
		fmt.Fprintf(a.stdout, "  left out: %s\n", pr)
	}
	return nil
}

type publishListCmd struct {
	JSON bool `name:"json" help:"Print JSON Lines, one object per calendar."`
}

type publishLine struct {
	Slug      string `json:"slug"`
	URL       string `json:"url"`
	Title     string `json:"title"`
	Events    int    `json:"events"`
	Followers int    `json:"followers"`
	LastPoll  string `json:"last_poll,omitempty"`
	LastOK    string `json:"last_ok,omitempty"`
	Error     string `json:"error,omitempty"`
}

// publishedLines reads what publish list and status show of each
// published calendar.
func publishedLines(ctx context.Context, db *store.DB) ([]publishLine, error) {
	cals, err := db.PublishedCalendars(ctx)
	if err != nil {
		return nil, err
	}
	lines := []publishLine{}
	for _, pc := range cals {
		evs, fols, err := db.PublishedCounts(ctx, pc.ID)
		if err != nil {
			return nil, err
		}
		l := publishLine{Slug: pc.Slug, URL: pc.URL, Title: pc.Title, Events: evs, Followers: fols, Error: pc.LastError}
		if !pc.LastPoll.IsZero() {
			l.LastPoll = pc.LastPoll.UTC().Format(time.RFC3339)
		}
		if !pc.LastOK.IsZero() {
			l.LastOK = pc.LastOK.UTC().Format(time.RFC3339)
		}
		lines = append(lines, l)
	}
	return lines, nil
}

func (c publishListCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	lines, err := publishedLines(a.ctx, db)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(a.stdout)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	return printPublished(a.stdout, lines)
}

func printPublished(out io.Writer, lines []publishLine) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CALENDAR\tEVENTS\tFOLLOWERS\tLAST GOOD POLL\tURL\tERROR")
	for _, l := range lines {
		last, errText := l.LastOK, l.Error
		if last == "" {
			last = "never"
		}
		if errText == "" {
			errText = "-"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", l.Slug, l.Events, l.Followers, last, l.URL, errText)
	}
	return w.Flush()
}

type publishRefreshCmd struct {
	Slug string `arg:"" name:"SLUG" help:"The published calendar."`
}

func (c publishRefreshCmd) Run(a *app) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	res, err := in.publisher.Poll(a.ctx, c.Slug)
	if errors.Is(err, bridges.ErrNotFound) {
		return noPublishedCalendar(c.Slug)
	}
	if err != nil {
		return fmt.Errorf("%s: %w (the last good state stays published)", c.Slug, err)
	}
	fmt.Fprintf(a.stdout, "%s: %s\n", c.Slug, res)
	for _, pr := range res.Problems {
		fmt.Fprintf(a.stdout, "  left out: %s\n", pr)
	}
	return nil
}

// noPublishedCalendar is the usage error for a slug no calendar has.
func noPublishedCalendar(slug string) error {
	return usageError{fmt.Errorf("no published calendar %q (`passerelle publish list` lists them)", slug)}
}

// publishedCalendar reads the calendar published as slug, or says there
// is none (exit 2).
func publishedCalendar(a *app, db *store.DB, slug string) (*store.PublishedCalendar, error) {
	pc, err := db.PublishedCalendar(a.ctx, slug)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, noPublishedCalendar(slug)
	}
	return pc, err
}

type publishRemoveCmd struct {
	Slug string `arg:"" name:"SLUG" help:"The published calendar."`
}

// Run removes the calendar. Its followers are sent a Delete of each event
// and of the Group (serve delivers them); then the Group and its events
// answer 410 Gone. The name stays taken.
func (c publishRemoveCmd) Run(a *app) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	if _, err := publishedCalendar(a, in.db, c.Slug); err != nil {
		return err
	}
	res, err := in.federation.RemoveCalendar(a.ctx, c.Slug)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s is no longer published: %d follower(s) will be sent a Delete of its %d event(s) and of the Group (serve delivers them)\n",
		c.Slug, res.Followers, res.Events)
	return nil
}

type publishFollowersCmd struct {
	Slug string `arg:"" name:"SLUG" help:"The published calendar."`
}

func (c publishFollowersCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	pc, err := publishedCalendar(a, db, c.Slug)
	if err != nil {
		return err
	}
	fs, err := db.PublishedFollowers(a.ctx, pc.ID)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FOLLOWER\tSTATE\tSINCE")
	for _, f := range fs {
		fmt.Fprintf(w, "%s\t%s\t%s\n", f.Actor, f.State, f.CreatedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

type publishAnswerCmd struct {
	Slug  string `arg:"" name:"SLUG" help:"The published calendar."`
	Actor string `arg:"" name:"ACTOR_URL" help:"The follower, as publish followers lists it (or the participant, as publish participants does, with --event)."`
	Event string `placeholder:"EVENT" help:"Answer this participant's Join of this event (its key or id, as publish participants lists it) rather than a follow."`
}

type publishApproveCmd struct{ publishAnswerCmd }

type publishRejectCmd struct{ publishAnswerCmd }

func (c publishApproveCmd) Run(a *app) error { return c.answer(a, true) }
func (c publishRejectCmd) Run(a *app) error  { return c.answer(a, false) }

// answer answers a held follow, or with --event a held Join.
func (c publishAnswerCmd) answer(a *app, accept bool) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	if _, err := publishedCalendar(a, in.db, c.Slug); err != nil {
		return err
	}
	what := "follow of " + c.Slug
	if c.Event != "" {
		what = "Join of " + c.Event
		err = in.federation.AnswerParticipation(a.ctx, c.Slug, c.Event, c.Actor, accept)
	} else {
		err = in.federation.AnswerFollow(a.ctx, c.Slug, c.Actor, accept)
	}
	if errors.Is(err, bridges.ErrNotFound) {
		return usageError{err}
	} else if err != nil {
		return err
	}
	verb := "accepted"
	if !accept {
		verb = "refused"
	}
	fmt.Fprintf(a.stdout, "the %s by %s is %s (serve delivers the answer)\n", what, c.Actor, verb)
	return nil
}

type publishSetCmd struct {
	Slug     string `arg:"" name:"SLUG" help:"The published calendar."`
	JoinMode string `name:"join-mode" required:"" placeholder:"MODE" enum:"free,restricted,external,none" help:"How the events take participants: free, restricted, external or none (see publish --help)."`
}

// Run changes the join mode and polls the calendar at once, so that its
// followers get each event again (an Update) with the new joinMode.
// Participants already accepted stay; held Joins keep waiting for an
// answer.
func (c publishSetCmd) Run(a *app) error {
	in, err := openInstance(a)
	if err != nil {
		return err
	}
	defer in.db.Close()
	pc, err := publishedCalendar(a, in.db, c.Slug)
	if err != nil {
		return err
	}
	if err := in.db.Tx(a.ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SetPublishedJoinMode(ctx, pc.ID, c.JoinMode) }); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: join mode %s\n", c.Slug, c.JoinMode)
	res, err := in.publisher.Poll(a.ctx, c.Slug)
	if err != nil {
		fmt.Fprintf(a.stderr, "%s: the poll that sends the change failed (serve polls again every %s): %v\n", c.Slug, publish.PollInterval, err)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s: %s\n", c.Slug, res)
	return nil
}

type publishParticipantsCmd struct {
	Slug string `arg:"" name:"SLUG" help:"The published calendar."`
}

func (c publishParticipantsCmd) Run(a *app) error {
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	pc, err := publishedCalendar(a, db, c.Slug)
	if err != nil {
		return err
	}
	ps, err := db.PublishedParticipants(a.ctx, pc.ID)
	if err != nil {
		return err
	}
	// The events' names and starts, as their Event documents say.
	evs, err := db.VisiblePublishedEvents(a.ctx, pc.ID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, e := range evs {
		var obj struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(e.Object, &obj)
		names[e.Key] = e.StartsAt.UTC().Format("2006-01-02 15:04Z") + " " + obj.Name
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "EVENT\tPARTICIPANT\tSTATE\tSINCE\tWHAT")
	for _, p := range ps {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.EventKey, p.Actor, p.State, p.CreatedAt.UTC().Format(time.RFC3339), names[p.EventKey])
	}
	return w.Flush()
}
