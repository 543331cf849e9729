package mail

import (
	"context"
	"io"
	"log/slog"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/store"
)

// Receiver takes one incoming mail to the RSVP flow: from the IMAP
// watcher or from `passerelle mail receive`.
type Receiver struct {
	RSVP  *bridges.RSVP[*store.Tx]
	Reply ReplyAddress
	// MaxSize bounds a mail; 0 means DefaultMaxSize.
	MaxSize int64
	Log     *slog.Logger
}

// Receive reads and applies one mail. A mail that cannot be an answer
// (unreadable, too large, a bounce, an auto-reply, list traffic) is
// ignored with the reason in the outcome and no error: retrying would not
// change it. An error means the mail could not be processed now (the
// database is away) and should be retried.
func (r *Receiver) Receive(ctx context.Context, rd io.Reader) (bridges.Outcome, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in, err := Parse(rd, r.MaxSize)
	if err != nil {
		log.Info("incoming mail ignored", "reason", "unreadable", "err", err)
		return bridges.Outcome{Ignored: "unreadable mail: " + err.Error()}, nil
	}
	if in.Ignore != "" {
		log.Info("incoming mail ignored", "reason", in.Ignore, "message_id", in.MessageID)
		return bridges.Outcome{Ignored: in.Ignore}, nil
	}
	for _, p := range in.Problems {
		log.Debug("incoming mail partly unreadable", "message_id", in.MessageID, "problem", p)
	}
	// A mail to local+join-SLUG@ asks for every event of a source; the
	// tag is only trusted on the envelope and header recipients, like
	// reply tokens.
	for _, rcpt := range in.Recipients {
		if slug, ok := r.Reply.JoinSlug(rcpt); ok {
			return r.RSVP.SubscribeToSource(ctx, in.MessageID, in.From, slug)
		}
	}
	out, err := r.RSVP.HandleReply(ctx, in.Reply(r.Reply))
	if err == nil && out.Ignored == "" && out.Answer != "" {
		metrics.Answers.WithLabelValues("mail", string(out.Answer)).Inc()
	}
	return out, err
}
