package bridges

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// SubscribeToSource answers a mail to local+join-SLUG@domain: the sender
// gets an invitation to each upcoming public event of the source now, and
// one to each of its future events when it comes. Invitations only:
// nothing is joined until they answer, and each one carries the way out.
// The mail's Message-ID is recorded so a replayed mail does nothing.
func (r *RSVP[T]) SubscribeToSource(ctx context.Context, messageID, address, slug string) (Outcome, error) {
	var out Outcome
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		out = Outcome{}
		if messageID != "" {
			first, err := tx.FirstSeen(ctx, messageID)
			if err != nil {
				return err
			}
			if !first {
				out.Ignored = "mail already processed (same Message-ID)"
				return nil
			}
		}
		if !strings.Contains(address, "@") {
			out.Ignored = "join mail without a sender address"
			return nil
		}
		src, err := tx.SourceBySlug(ctx, slug)
		if errors.Is(err, ErrNotFound) || (err == nil && src.State != SourceFollowed) {
			out.Ignored = "join mail for a source not followed here"
			return nil
		}
		if err != nil {
			return err
		}
		ids, err := tx.UpcomingPublicEvents(ctx, src.ID, r.now())
		if err != nil {
			return err
		}
		invited, err := r.invite(ctx, tx, address, ids)
		if errors.Is(err, ErrUnsubscribed) {
			out.Ignored = "sender unsubscribed from all mail"
			return nil
		}
		if err != nil {
			return err
		}
		p, err := tx.ParticipantByAddress(ctx, address)
		if err != nil {
			return err
		}
		if err := tx.Subscribe(ctx, p.ID, src.ID); err != nil {
			return err
		}
		out.Subscribed, out.Invited = src.Slug, invited
		return nil
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("subscribe to source %s: %w", slug, err)
	}
	if out.Ignored != "" {
		r.log().Info("join mail ignored", "source", slug, "reason", out.Ignored)
	} else {
		r.log().Info("subscribed to a source", "source", slug, "invitations", len(out.Invited))
	}
	return out, nil
}

// inviteSubscribers invites a source's subscribers to its new event, in
// the transaction that stores it.
func (r *RSVP[T]) inviteSubscribers(ctx context.Context, tx T, ev *StoredEvent) error {
	if ev == nil || ev.SourceID == 0 || !ev.Public || ev.Draft || ev.Deleted || ev.Status == StatusCancelled || ev.Over(r.now()) {
		return nil
	}
	addrs, err := tx.SubscribersOf(ctx, ev.SourceID)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if _, err := r.invite(ctx, tx, a, []int64{ev.ID}); err != nil && !errors.Is(err, ErrUnsubscribed) {
			return fmt.Errorf("invite subscribers to event %d: %w", ev.ID, err)
		}
	}
	return nil
}
