package main

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/caldav"
	"codeberg.org/passerelle/passerelle/federation"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/mail"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/media"
	"codeberg.org/passerelle/passerelle/publish"
	"codeberg.org/passerelle/passerelle/store"
	"codeberg.org/passerelle/passerelle/web"
)

// instance is passerelle assembled: the pieces every area adds itself to.
// serve runs it; other commands use the parts they need (a command that
// enqueues work needs the same flows that serve's workers run).
type instance struct {
	db       *store.DB
	events   *bridges.Events[*store.Tx]
	mux      *http.ServeMux
	workers  *river.Workers
	periodic []*river.PeriodicJob
	mastodon *mastodon.Poster
	// replies reads the answers under the events' statuses.
	replies *mastodon.Replies
	// rsvp is the RSVP flow that mail and Mastodon replies feed.
	rsvp *bridges.RSVP[*store.Tx]
	// federation is the ActivityPub side: actors, inbox, delivery, follows.
	federation *federation.Service
	// mail is the RSVP flow, its workers and the mailbox watcher; nil
	// when mail is not configured.
	mail *mailParts
	// publisher polls the published calendars (issue 19).
	publisher *publish.Publisher
}

// openInstance opens the existing database (see openDB) and wires
// passerelle on it, for the commands that act through the same flows serve
// runs. The caller closes in.db.
func openInstance(a *app) (*instance, error) {
	db, err := openDB(a)
	if err != nil {
		return nil, err
	}
	in, err := newInstance(a, db)
	if err == nil {
		// A command must not send a Follow from an actor that the
		// database's other actors do not match; serve says what to do.
		err = checkPublicURL(a, in, false)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return in, nil
}

// organiserNotice queues, in the transaction that records a Join or
// Leave of a published calendar's event, the mail that tells its contact
// (when mail is set up) and, for a calendar published with
// --write-attendees, the job that writes the ATTENDEE to its CalDAV
// calendar: a durable job, not a request to the organiser's server
// inside the inbox's transaction.
func organiserNotice(ctx context.Context, tx *store.Tx, p federation.PublishedParticipation, mailOn bool) error {
	if p.Calendar.WriteAttendees && p.Calendar.Kind == store.KindCalDAV {
		if err := tx.Enqueue(ctx, publish.AttendeeJob{Slug: p.Calendar.Slug, Key: p.Event.Key, Actor: p.Participant}, publish.AttendeeJobOpts); err != nil {
			return err
		}
	}
	if p.Calendar.Contact == "" || !mailOn || p.Approved {
		// An approval is the organiser's own doing: no mail about it.
		return nil
	}
	return tx.Enqueue(ctx, mail.OrganiserJob{To: p.Calendar.Contact, Calendar: p.Calendar.Slug, Event: p.Name, EventURL: p.URL,
		Start: p.Start, Participant: p.Participant, Joined: p.Joined, Pending: p.Pending, EventKey: p.Event.Key, Count: p.Count}, bridges.JobOpts{Queue: bridges.QueueMail, MaxAttempts: 12})
}

// newInstance wires every area. Each area adds its handlers, workers and
// change listeners here, in one place, so that the whole assembly reads top
// to bottom.
func newInstance(a *app, db *store.DB) (*instance, error) {
	in := &instance{
		db:      db,
		mux:     http.NewServeMux(),
		workers: river.NewWorkers(),
	}
	river.AddWorker(in.workers, store.ProbeWorker{})

	// The parts are built in the order they need each other, each one
	// complete: the RSVP flow (on federation's outbox) and mail on it, the
	// event flow that tells Mastodon and the RSVP flow of changes, then
	// federation, which feeds the event flow and tells the RSVP flow of
	// answers to its Joins; last the Mastodon replies, which feed the RSVP
	// flow too.
	var err error
	if in.rsvp, err = newRSVP(a, db); err != nil {
		return nil, err
	}
	m, err := mailOn(a, db, in.rsvp)
	if err != nil {
		return nil, err
	}
	in.mail = m
	// Remote images (banners, images in descriptions) are fetched once
	// into the database and served from /media/: pages, mails, calendars
	// and Mastodon posts use that copy. Its fetcher is complete once
	// federation gives it the domain policy, below.
	images := &media.Cache{DB: db, Log: a.log}
	in.mastodon = mastodon.NewPoster(db, mastodonHTTP(a), a.log)
	in.mastodon.Images = images
	in.mastodon.Register(in.workers)
	listeners := []bridges.ChangeListener[*store.Tx]{&mastodon.Listener{}, media.Listener{}, in.rsvp}
	in.events = &bridges.Events[*store.Tx]{Store: db, Renderer: calendarRenderer(a), Listeners: listeners, Log: a.log}
	// Joins and Leaves of a published calendar's events are mailed to
	// its contact when mail is set up, and written to its CalDAV calendar
	// with --write-attendees.
	parts := func(ctx context.Context, tx *store.Tx, p federation.PublishedParticipation) error {
		return organiserNotice(ctx, tx, p, m != nil)
	}
	fed, err := newFederation(a, db, in.events, in.rsvp, parts)
	if err != nil {
		return nil, err
	}
	in.federation = fed
	// Answers under the events' statuses join through the same flow; the
	// participants hear back in direct replies.
	host, _ := os.Hostname()
	in.replies = &mastodon.Replies{DB: db, RSVP: in.rsvp, HTTP: mastodonHTTP(a), Allowed: fed.Policy().CheckHost,
		Holder: host + "/" + strconv.Itoa(os.Getpid()), Log: a.log}
	river.AddWorker(in.workers, &mastodon.Replier{DB: db, HTTP: mastodonHTTP(a), PublicURL: a.cfg.PublicURL, Log: a.log})
	images.Fetcher = &media.Fetcher{Client: mediaHTTP(a), Policy: fed.Policy(), AllowPrivate: a.cfg.Federation.AllowPrivateNetworks}
	in.periodic = append(in.periodic, images.Register(in.workers, time.Hour))
	in.mux.Handle("GET /media/{hash}", images)

	in.mux.Handle("GET /healthz", web.Health())
	in.mux.Handle("GET /readyz", web.Ready(db, a.log))
	pages := &web.Pages{DB: db, Site: a.cfg.Instance.Name, Description: a.cfg.Instance.Description,
		Version: versionString(), PublicURL: strings.TrimSuffix(a.cfg.PublicURL, "/"), Log: a.log, Media: images}
	var reply mail.ReplyAddress
	if m != nil {
		if reply, err = replyAddress(a); err != nil {
			return nil, err
		}
		pages.Inviter = m.rsvp
		pages.JoinAddress = func(slug string) string { return reply.Tagged("join-" + slug) }
	}
	eventPage, err := pages.Mount(in.mux)
	if err != nil {
		return nil, err
	}
	// A published calendar's Event id answers a browser with its page.
	fed.PublishedEventPage = http.HandlerFunc(pages.ServePublishedEvent)

	calendars := &caldav.DBStore{DB: db}
	// Personal calendars (the events one mail participant answered) are
	// one more owner of the same CalDAV server.
	// With mail, each participant also has a calendar account: they sign
	// in with their address and calendar password and answer from their
	// calendar app.
	dav := &caldav.Server{Store: calendars, Log: a.log}
	if m != nil {
		personal := &caldav.PersonalStore{DB: db, Renderer: calendarRenderer(a), Organizer: reply.String()}
		dav.Store = &caldav.Owners{Public: calendars, Personal: personal}
		dav.Accounts = &caldav.Accounts{DB: db, Personal: personal, Answers: m.rsvp, Log: a.log}
		in.mux.HandleFunc("GET /feeds/personal/{file}", personal.ServePersonalFeed)
	}
	caldav.Mount(in.mux, dav,
		&caldav.Feeds{Store: calendars, Log: a.log, PublicURL: a.cfg.PublicURL, TempDir: a.cfg.DataDir}, caldav.MountOptions{EventPage: eventPage, OtherFeeds: http.HandlerFunc(pages.ServeAtom)})
	if m != nil {
		if err := (&web.MailPages{Pages: pages, RSVP: m.rsvp}).Mount(in.mux); err != nil {
			return nil, err
		}
		river.AddWorker(in.workers, m.sender(a, db, reply))
		river.AddWorker(in.workers, &mail.OrganiserSender{SMTP: m.smtp, From: a.cfg.Mail.From, Envelope: reply.String(), Log: a.log})
		// Answered events are re-fetched from their origin (Mobilizon
		// sends their participants no Update or Delete); the sweep runs
		// every minute, the tightest schedule is ten minutes.
		in.periodic = append(in.periodic, fed.RegisterRefetch(in.workers, time.Minute))
	}
	river.AddWorker(in.workers, &mail.ConfirmChecker{RSVP: in.rsvp})
	river.AddWorker(in.workers, &mail.Fanouter{RSVP: in.rsvp})
	fed.Mount(in.mux)
	fed.Register(in.workers)
	if in.publisher, err = newPublisher(a, in); err != nil {
		return nil, err
	}
	in.periodic = append(in.periodic, in.publisher.Register(in.workers, publish.PollInterval))
	return in, nil
}

// calendarRenderer renders calendars whose images are passerelle's copies
// (<public_url>/media/<hash>), for feeds, CalDAV and mails alike.
func calendarRenderer(a *app) *ical.Renderer {
	base := strings.TrimSuffix(a.cfg.PublicURL, "/")
	return &ical.Renderer{
		MediaURL: func(remote string) string { return base + media.Path(remote) },
		MediaHTML: func(html string) string {
			out, err := media.LinkImages(html, base)
			if err != nil {
				return "" // X-ALT-DESC is optional: DESCRIPTION stays
			}
			return out
		},
	}
}

// mediaHTTP is the outbound client for images: shorter than the others,
// since a fetch job has 20 s in all.
func mediaHTTP(a *app) *http.Client {
	return outbound.New(outbound.Options{
		AllowPrivateNetworks: a.cfg.Federation.AllowPrivateNetworks,
		Timeout:              15 * time.Second,
		UserAgent:            "passerelle/" + versionString() + " (+" + a.cfg.PublicURL + ")",
	})
}
