package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/outbox"
	"codeberg.org/passerelle/passerelle/mail"
	"codeberg.org/passerelle/passerelle/mastodon"
	"codeberg.org/passerelle/passerelle/media"
	"codeberg.org/passerelle/passerelle/store"
)

// mailParts is the mail area assembled: the RSVP flow, the receiver that
// feeds it, and the watcher when mail.imap is set.
type mailParts struct {
	rsvp     *bridges.RSVP[*store.Tx]
	receiver *mail.Receiver
	watcher  *mail.Watcher
	smtp     *mail.SMTP
	// passwords makes the calendar accounts' passwords.
	passwords *bridges.CalendarPasswords
}

// replyAddress is mail.reply_address, or the address of mail.from.
func replyAddress(a *app) (mail.ReplyAddress, error) {
	s := a.cfg.Mail.ReplyAddress
	if s == "" {
		from, err := netmail.ParseAddress(a.cfg.Mail.From)
		if err != nil {
			return mail.ReplyAddress{}, fmt.Errorf("mail.from: %w", err)
		}
		s = from.Address
	}
	return mail.ParseReplyAddress(s)
}

// newRSVP is the RSVP flow, which mail and Mastodon replies both feed. It
// joins and leaves through federation's outbox, which records the
// activities as deliveries for serve's workers to send; fediverse
// participants hear back in direct replies, mail ones by mail (newMail
// sets the Mailer when mail is configured).
func newRSVP(a *app, db *store.DB) (*bridges.RSVP[*store.Tx], error) {
	outbox, err := outbox.New(a.cfg.PublicURL, db)
	if err != nil {
		return nil, err
	}
	return &bridges.RSVP[*store.Tx]{Store: db, Participator: outbox, Fediverse: mastodon.Directs{}, Log: a.log,
		ConfirmWait: time.Duration(a.cfg.Mail.ConfirmWait)}, nil
}

// newMail wires the mail area on an RSVP flow of its own, for the
// commands that need mail alone; without mail.smtp it is off (nil).
func newMail(a *app, db *store.DB) (*mailParts, error) {
	rsvp, err := newRSVP(a, db)
	if err != nil {
		return nil, err
	}
	return mailOn(a, db, rsvp)
}

// mailOn wires the mail area on the RSVP flow; without mail.smtp it is
// off (nil).
func mailOn(a *app, db *store.DB, rsvp *bridges.RSVP[*store.Tx]) (*mailParts, error) {
	if !a.cfg.Mail.Enabled() {
		return nil, nil
	}
	reply, err := replyAddress(a)
	if err != nil {
		return nil, err
	}
	smtp, err := mail.ParseSMTP(a.cfg.Mail.SMTP)
	if err != nil {
		return nil, err
	}
	secret, err := instanceSecret(a)
	if err != nil {
		return nil, err
	}
	passwords, err := bridges.NewCalendarPasswords(secret)
	if err != nil {
		return nil, err
	}
	m := &mailParts{smtp: smtp, passwords: passwords, rsvp: rsvp}
	rsvp.Mailer, rsvp.Passwords = mail.Notifier{}, passwords
	m.receiver = &mail.Receiver{RSVP: m.rsvp, Reply: reply, Log: a.log}
	if a.cfg.Mail.IMAP != "" {
		host, _ := os.Hostname()
		m.watcher, err = mail.NewWatcher(a.cfg.Mail.IMAP, mail.Watcher{DB: db, Receiver: m.receiver,
			Holder: host + "/" + strconv.Itoa(os.Getpid()), Log: a.log, ProcessedFolder: a.cfg.Mail.ProcessedFolder})
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sender is the mail worker for serve.
func (m *mailParts) sender(a *app, db *store.DB, reply mail.ReplyAddress) *mail.Sender {
	return &mail.Sender{DB: db, SMTP: m.smtp, From: a.cfg.Mail.From, Reply: reply, PublicURL: a.cfg.PublicURL,
		Renderer: calendarRenderer(a), Images: &media.Cache{DB: db, Base: strings.TrimSuffix(a.cfg.PublicURL, "/")}, Passwords: m.passwords, Limit: &mail.RateLimit{Interval: time.Duration(a.cfg.Mail.SendInterval)}, Log: a.log}
}

// exitCodeError ends the process with a given status (mail receive's 75).
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

// exTempFail is sysexits' EX_TEMPFAIL: the MTA keeps the mail and retries.
const exTempFail = 75

// exConfig is sysexits' EX_CONFIG: passerelle's configuration is wrong (no
// database, or one not migrated; mail not configured). An MTA must not
// retry that forever as it would a 75.
const exConfig = 78

type mailCmd struct {
	Receive mailReceiveCmd `cmd:"" help:"Process one mail read on standard input (for an MTA pipe): exit 0 when processed or ignored, 75 to be retried, 78 when the configuration is wrong (no database, mail not configured)."`
}

type mailReceiveCmd struct{}

func (mailReceiveCmd) Run(a *app) error {
	tempfail := func(err error) error { return exitCodeError{code: exTempFail, err: err} }
	// Read the mail first and bounded: an MTA must not wait on a database.
	raw, err := io.ReadAll(io.LimitReader(a.stdin, mail.DefaultMaxSize+1))
	if err != nil {
		return tempfail(fmt.Errorf("read the mail on stdin: %w", err))
	}
	configErr := func(err error) error { return exitCodeError{code: exConfig, err: err} }
	db, err := openDB(a)
	var u usageError
	if errors.As(err, &u) {
		return configErr(err)
	}
	if err != nil {
		return tempfail(err)
	}
	defer db.Close()
	m, err := newMail(a, db)
	if err != nil {
		return configErr(err)
	}
	if m == nil {
		return configErr(errors.New("mail is not configured (mail.smtp and mail.from): cannot process replies"))
	}
	out, err := m.receiver.Receive(a.ctx, bytes.NewReader(raw))
	if err != nil {
		return tempfail(err)
	}
	if out.Ignored != "" {
		fmt.Fprintf(a.stdout, "ignored: %s\n", out.Ignored)
		return nil
	}
	if out.Subscribed != "" {
		fmt.Fprintf(a.stdout, "subscribed to %s: %d invitation(s) queued\n", out.Subscribed, len(out.Invited))
		return nil
	}
	fmt.Fprintf(a.stdout, "answer %s recorded for invitation %d\n", out.Answer, out.InvitationID)
	return nil
}

type inviteCmd struct {
	Source    string   `placeholder:"SOURCE" help:"Invite to every upcoming public event of this source (handle, actor URL or slug)." xor:"what" required:""`
	Event     int64    `placeholder:"ID" help:"Invite to this event (its id, as 'events' lists it)." xor:"what" required:""`
	Addresses []string `arg:"" name:"ADDRESS" help:"Mail addresses to invite."`
}

func (c inviteCmd) Run(a *app) error {
	// Every address is checked before anyone is invited, so a typo in
	// the middle of a list leaves nothing half done.
	for _, addr := range c.Addresses {
		if _, err := netmail.ParseAddress(addr); err != nil || strings.ContainsAny(addr, "<> ") {
			return usageError{fmt.Errorf("%q is not a mail address (want e.g. ana@example.net); nobody was invited", addr)}
		}
	}
	db, err := openDB(a)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := newMail(a, db)
	if err != nil {
		return err
	}
	if m == nil {
		return usageError{errors.New("mail is not configured: set mail.from and mail.smtp")}
	}
	var ids []int64
	if c.Event != 0 {
		ev, err := db.EventByID(a.ctx, c.Event)
		if errors.Is(err, bridges.ErrNotFound) || err == nil && ev.Deleted {
			return usageError{fmt.Errorf("no event %d (`passerelle events` lists the upcoming ones with their ids)", c.Event)}
		}
		if err != nil {
			return err
		}
		if ev.Draft || !ev.Public {
			return usageError{fmt.Errorf("event %d (%s) is not public: passerelle invites only to public events", c.Event, ev.Title)}
		}
		ids = []int64{c.Event}
	} else {
		src, err := findSource(a, db, c.Source)
		if err != nil {
			return err
		}
		evs, err := db.Events(a.ctx, store.EventQuery{SourceID: src.ID, From: time.Now()})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Public && !ev.Draft {
				ids = append(ids, ev.ID)
			}
		}
		if len(ids) == 0 {
			fmt.Fprintf(a.stdout, "%s has no upcoming public event: nobody was invited\n", src.Slug)
			return nil
		}
	}
	for _, addr := range c.Addresses {
		res, err := m.rsvp.InviteReport(a.ctx, addr, ids)
		if errors.Is(err, bridges.ErrUnsubscribed) {
			fmt.Fprintf(a.stdout, "%s: unsubscribed, not invited\n", addr)
			continue
		}
		if err != nil {
			return fmt.Errorf("invite %s: %w", addr, err)
		}
		fmt.Fprintf(a.stdout, "%s: %d invitation(s) queued%s\n", addr, len(res.Created), skippedText(res.Skipped))
	}
	return nil
}

// skippedText says which events got no invitation and why, grouped by
// reason: " (not invited to event 12: cancelled; events 3, 4: already
// invited)".
func skippedText(skipped []bridges.Uninvited) string {
	if len(skipped) == 0 {
		return ""
	}
	var reasons []string
	byReason := map[string][]string{}
	for _, s := range skipped {
		if _, ok := byReason[s.Reason]; !ok {
			reasons = append(reasons, s.Reason)
		}
		byReason[s.Reason] = append(byReason[s.Reason], strconv.FormatInt(s.EventID, 10))
	}
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		ids := byReason[r]
		noun := "event"
		if len(ids) > 1 {
			noun = "events"
		}
		if r == "over" {
			r = "already over"
		}
		parts[i] = fmt.Sprintf("%s %s: %s", noun, strings.Join(ids, ", "), r)
	}
	return " (not invited to " + strings.Join(parts, "; ") + ")"
}
