package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Mail configures invitations out (SMTP) and replies in (IMAP, or
// `passerelle mail receive` from an MTA).
type Mail struct {
	// From is the sender of every mail: "Passerelle <events@example.org>".
	From string `toml:"from"`
	// SMTP is smtp://host:25 (plain, for a local relay),
	// smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465.
	SMTP string `toml:"smtp" secret:"url"`
	// IMAP is imap:// or imaps://user:pass@host/MAILBOX, the one watched
	// mailbox; optional.
	IMAP string `toml:"imap" secret:"url"`
	// ReplyAddress is the address whose plus-tags carry reply tokens;
	// default: the address of From.
	ReplyAddress string `toml:"reply_address"`
	// ProcessedFolder is where the watcher moves each mail it processed
	// (created when missing); empty: the mail stays and is flagged \Seen.
	ProcessedFolder string `toml:"processed_folder"`
	// SendInterval spaces out the mails one replica sends, so that relays
	// do not throttle a burst of invitations; 0 sends without waiting.
	SendInterval Duration `toml:"send_interval"`
	// ConfirmWait is how long a Join may go unanswered before the
	// participant hears "delivered, but not confirmed" (Mobilizon accepts
	// Joins to a free group event without a local moderator silently).
	ConfirmWait Duration `toml:"confirm_wait"`
}

// Enabled reports whether passerelle can send mail.
func (m *Mail) Enabled() bool { return m.SMTP != "" }

func (m *Mail) validate() []error {
	var errs []error
	bad := func(key, msg string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(msg, args...)})
	}
	if m.From != "" && !validAddress(m.From) {
		bad("mail.from", "want a mail address such as \"Passerelle <events@example.org>\"; got %q", m.From)
	}
	if m.SMTP != "" {
		u, err := url.Parse(m.SMTP)
		if err != nil || u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtp+starttls" && u.Scheme != "smtps") {
			bad("mail.smtp", "want smtp://host:port, smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465; got %q", Redact(m.SMTP))
		}
		if m.From == "" {
			bad("mail.from", "must be set when mail.smtp is")
		}
	}
	if m.IMAP != "" {
		u, err := url.Parse(m.IMAP)
		if err != nil || u.Host == "" || (u.Scheme != "imap" && u.Scheme != "imaps") || u.User == nil {
			bad("mail.imap", "want imap:// or imaps://user:pass@host/MAILBOX; got %q", Redact(m.IMAP))
		}
	}
	if f := m.ProcessedFolder; f != "" {
		if strings.ContainsFunc(f, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '*' || r == '%' }) {
			bad("mail.processed_folder", "want an IMAP folder name without control characters, '*' or '%%', such as \"Processed\"; got %q", f)
		}
		if u, err := url.Parse(m.IMAP); err == nil && strings.EqualFold(strings.TrimPrefix(u.Path, "/"), f) {
			bad("mail.processed_folder", "must differ from the watched mailbox of mail.imap (%q)", f)
		}
	}
	if d := time.Duration(m.SendInterval); d < 0 || d > time.Hour {
		bad("mail.send_interval", "want a duration between 0s and 1h, such as \"200ms\"; got %s", d)
	}
	if d := time.Duration(m.ConfirmWait); d < time.Second || d > 24*time.Hour {
		bad("mail.confirm_wait", "want a duration between 1s and 24h, such as \"2m\"; got %s", d)
	}
	if m.ReplyAddress != "" && (!validAddress(m.ReplyAddress) || strings.Contains(m.ReplyAddress, "+")) {
		bad("mail.reply_address", "want a plain mail address without a +tag, such as rsvp@example.org; got %q", m.ReplyAddress)
	}
	return errs
}
