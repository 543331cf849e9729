package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/store"
)

// SendJob sends one notice about one invitation. The mail is composed
// when the job runs, from the state then, so a crash between enqueue and
// send loses nothing and sends nothing stale.
type SendJob struct {
	InvitationID int64          `json:"invitation_id"`
	Notice       bridges.Notice `json:"notice"`
}

// Kind names the job.
func (SendJob) Kind() string { return "mail_send" }

// Notifier is the bridges.Mailer: it enqueues a SendJob in the
// transaction that decided the mail.
type Notifier struct{}

var _ bridges.Mailer = Notifier{}

// Notify enqueues the mail.
func (Notifier) Notify(ctx context.Context, tx bridges.Tx, inv *bridges.Invitation, n bridges.Notice) error {
	// 12 attempts with River's attempt⁴ backoff spread retries over
	// about a day: a relay's temporary refusal (4xx) gets that long.
	return tx.Enqueue(ctx, SendJob{InvitationID: inv.ID, Notice: n}, bridges.JobOpts{Queue: bridges.QueueMail, Priority: priority(n), MaxAttempts: 12})
}

// priority puts the answer to someone who just wrote (you're in, held,
// full…) before the notices an organiser's change sends to every invitee
// at once: a reply is not stuck behind 5,000 updates.
func priority(n bridges.Notice) int {
	if n == bridges.NoticeUpdate || n == bridges.NoticeCancel {
		return 2
	}
	return 1
}

// Submitter submits one message to a relay (SMTP implements it).
type Submitter interface {
	Send(ctx context.Context, from string, to []string, msg io.Reader) error
}

// Sender is the worker that composes and sends notices.
type Sender struct {
	river.WorkerDefaults[SendJob]
	DB   *store.DB
	SMTP Submitter
	// From is mail.from; Reply the watched mailbox (mail.reply_address).
	From  string
	Reply ReplyAddress
	// PublicURL is passerelle's public_url, for the unsubscribe and
	// answer links.
	PublicURL string
	Renderer  *ical.Renderer
	// Images gives the passerelle copies (absolute links) of the remote
	// images that are cached (media.Cache); nil: mails show no banner.
	Images interface {
		Links(ctx context.Context, urls ...string) (map[string]string, error)
	}
	// Passwords makes the calendar account's password each mail carries;
	// nil leaves the account out.
	Passwords *bridges.CalendarPasswords
	Limit     *RateLimit
	Log       *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// banner returns the link of the event's cached banner, or "": a mail
// goes without its banner rather than wait for it or load it from the
// event's server.
func (s *Sender) banner(ctx context.Context, ev *bridges.Event) string {
	if s.Images == nil || ev.BannerURL == "" {
		return ""
	}
	links, err := s.Images.Links(ctx, ev.BannerURL)
	if err != nil {
		s.log().Warn("mail without its banner", "event", ev.APID, "err", err)
		return ""
	}
	return links[ev.BannerURL]
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// partstats are the PARTSTAT a confirmation's calendar gives the attendee.
var partstats = map[Kind]string{KindJoined: "ACCEPTED", KindMaybe: "TENTATIVE", KindLeft: "DECLINED", KindRejected: "DECLINED"}

// NewToken makes a reply token (bridges.NewToken).
func NewToken() string { return bridges.NewToken() }

// Work composes and sends the mail. A relay's 5xx is recorded and ends
// the job; anything else is retried with backoff.
func (s *Sender) Work(ctx context.Context, job *river.Job[SendJob]) error {
	args := job.Args
	var out *Outgoing
	var inv *bridges.Invitation
	err := s.DB.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		inv, err = tx.InvitationByID(ctx, args.InvitationID)
		if err != nil {
			return err
		}
		p, err := tx.ParticipantByID(ctx, inv.ParticipantID)
		if err != nil {
			return err
		}
		ev, err := tx.EventByID(ctx, inv.EventID)
		if err != nil {
			return err
		}
		// Message-IDs are derived from the job, so a retried attempt
		// carries the same id and receivers can drop the duplicate.
		msgID := fmt.Sprintf("passerelle.%d.%d.%s@%s", inv.ID, job.ID, args.Notice, s.Reply.Domain)
		if p.Unsubscribed {
			out = nil
			return tx.LogMail(ctx, store.MailLogEntry{Direction: "out", MessageID: msgID, InvitationID: inv.ID, Kind: string(args.Notice), Status: "suppressed", Detail: "address unsubscribed"})
		}
		token := NewToken()
		if err := tx.AddToken(ctx, inv.ID, bridges.HashToken(token)); err != nil {
			return err
		}
		if inv.Thread == "" {
			inv.Thread = msgID
			if err := tx.SaveInvitation(ctx, inv); err != nil {
				return err
			}
		}
		// A personal calendar link in every mail: the participant's one
		// link, made with their first mail and the same in every one after
		// (until they rotate it from the page a mail links to).
		calToken, err := tx.PersonalCalendarToken(ctx, p.ID, NewToken())
		if err != nil {
			return err
		}
		var acct *bridges.CalendarAccount
		if s.Passwords != nil {
			a, err := s.Passwords.Account(ctx, tx, p)
			if err != nil {
				return err
			}
			acct = &a
		}
		base := strings.TrimRight(s.PublicURL, "/")
		out = &Outgoing{
			Kind: Kind(args.Notice), Event: &ev.Event, From: s.From, To: p.Address,
			ReplyTo: s.Reply.WithToken(token), MessageID: msgID, Thread: inv.Thread,
			UnsubscribeURL: base + "/mail/unsubscribe/" + token, PageURL: base + "/rsvp/" + token,
			CalendarURL: base + "/feeds/personal/" + calToken + ".ics",
			Account:     acct, DAVURL: base + "/dav/",
			Date: s.now(),
		}
		out.BannerURL = s.banner(ctx, &ev.Event)
		if m := out.Method(); m != "" {
			out.Calendar, err = s.Renderer.ITIP(&ev.Event, m, ical.Invitee{
				Organizer: out.ReplyTo, OrganizerName: ev.OrganizerName, Attendee: p.Address, PartStat: partstats[out.Kind],
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, bridges.ErrNotFound) {
		s.log().Info("mail for an erased invitation dropped", "invitation", args.InvitationID, "notice", args.Notice)
		return nil
	}
	if err != nil {
		return fmt.Errorf("prepare %s mail for invitation %d: %w", args.Notice, args.InvitationID, err)
	}
	if out == nil {
		metrics.Mails.WithLabelValues("suppressed").Inc()
		s.log().Info("mail to an unsubscribed address suppressed", "invitation", args.InvitationID, "notice", args.Notice)
		return nil
	}
	var msg bytes.Buffer
	if _, err := out.WriteTo(&msg); err != nil {
		return river.JobCancel(err)
	}
	if err := s.Limit.Wait(ctx); err != nil {
		return err
	}
	// Bounces go to the watched mailbox, where they are recognised and
	// ignored: the envelope sender is the plain reply address.
	sendErr := s.SMTP.Send(ctx, s.Reply.String(), []string{out.To}, &msg)
	entry := store.MailLogEntry{Direction: "out", MessageID: out.MessageID, InvitationID: inv.ID, Kind: string(out.Kind), Status: "sent"}
	var perm *PermanentError
	switch {
	case errors.As(sendErr, &perm):
		entry.Status, entry.Detail = "failed", perm.Error()
		metrics.Mails.WithLabelValues("failed").Inc()
	case sendErr != nil:
		metrics.Mails.WithLabelValues("deferred").Inc()
		return sendErr
	default:
		metrics.Mails.WithLabelValues("sent").Inc()
	}
	if err := s.DB.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.LogMail(ctx, entry) }); err != nil {
		return err
	}
	if perm != nil {
		s.log().Warn("mail refused for good", "invitation", inv.ID, "notice", out.Kind, "err", perm)
		return river.JobCancel(perm)
	}
	s.log().Info("mail sent", "invitation", inv.ID, "notice", out.Kind, "message_id", out.MessageID)
	s.log().Debug("mail recipient", "invitation", inv.ID, "to", out.To)
	return nil
}

func (s *Sender) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ConfirmChecker runs bridges.ConfirmCheckJob.
type ConfirmChecker struct {
	river.WorkerDefaults[bridges.ConfirmCheckJob]
	RSVP *bridges.RSVP[*store.Tx]
}

// Work asks the flow whether the Join was answered.
func (c *ConfirmChecker) Work(ctx context.Context, job *river.Job[bridges.ConfirmCheckJob]) error {
	return c.RSVP.CheckConfirmation(ctx, job.Args)
}

// Fanouter runs bridges.FanoutJob: the notices of an event's change to
// its invitees beyond the first chunk.
type Fanouter struct {
	river.WorkerDefaults[bridges.FanoutJob]
	RSVP *bridges.RSVP[*store.Tx]
}

// Work tells the next chunk of invitees.
func (f *Fanouter) Work(ctx context.Context, job *river.Job[bridges.FanoutJob]) error {
	return f.RSVP.Fanout(ctx, job.Args)
}

// Register adds the mail workers.
func Register(workers *river.Workers, s *Sender, c *ConfirmChecker) {
	river.AddWorker(workers, s)
	river.AddWorker(workers, c)
	river.AddWorker(workers, &Fanouter{RSVP: c.RSVP})
}
