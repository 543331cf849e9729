package bridges

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// This file holds what the links in passerelle's mails lead to: the
// token a mail carries (the same one as in its reply address) names the
// invitation, so a page can show the invitation, take an answer into the
// same flow as a mail reply, or stop all mail to the address. A link
// itself changes nothing: mail scanners open links before people do.

// TokenInvitation is what a mail's token opens: the invitation, its event
// and whether the address still gets mail. The address itself is left
// out: the page that shows this may be open on a shared screen.
type TokenInvitation struct {
	Invitation   *Invitation
	Event        *StoredEvent
	Unsubscribed bool
	// CalendarToken opens the participant's personal calendar; empty
	// until a mail linked to it.
	CalendarToken string
}

// ByToken reads what a mail's token names, ErrNotFound when no mail
// carried that token (or its participant was erased).
func (r *RSVP[T]) ByToken(ctx context.Context, token string) (*TokenInvitation, error) {
	var out *TokenInvitation
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		inv, p, err := invitationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		ev, err := tx.EventByID(ctx, inv.EventID)
		if err != nil {
			return err
		}
		out = &TokenInvitation{Invitation: inv, Event: ev, Unsubscribed: p.Unsubscribed, CalendarToken: p.CalendarToken}
		return nil
	})
	return out, err
}

func invitationByToken(ctx context.Context, tx RSVPTx, token string) (*Invitation, *Participant, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil, ErrNotFound
	}
	inv, err := tx.InvitationByTokenHash(ctx, HashToken(token))
	if err != nil {
		return nil, nil, err
	}
	p, err := tx.ParticipantByID(ctx, inv.ParticipantID)
	if err != nil {
		return nil, nil, err
	}
	return inv, p, nil
}

// AnswerByToken applies an answer given on the web page a mail links to.
// The token proves the answer comes from the invited address, as the
// token in a reply's address does; from there it is the same flow as a
// mail reply (Join, Leave, the mails that follow).
func (r *RSVP[T]) AnswerByToken(ctx context.Context, token string, a Answer) (Outcome, error) {
	switch a {
	case AnswerAccepted, AnswerDeclined, AnswerTentative:
	default:
		return Outcome{}, fmt.Errorf("answer %q: want accepted, declined or tentative", a)
	}
	var out Outcome
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		out = Outcome{Answer: a}
		inv, p, err := invitationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		return r.answer(ctx, tx, p, inv, a, &out)
	})
	return r.answered("web", out, err)
}

// answer applies an answer to an invitation, given by a channel that
// proved who the participant is (a mail's token, their calendar account),
// unless the event is cancelled or over (out.Ignored says so).
func (r *RSVP[T]) answer(ctx context.Context, tx T, p *Participant, inv *Invitation, a Answer, out *Outcome) error {
	out.InvitationID = inv.ID
	ev, err := tx.EventByID(ctx, inv.EventID)
	if err != nil {
		return err
	}
	switch {
	case ev.Deleted || ev.Status == StatusCancelled:
		out.Ignored = "event cancelled"
		return nil
	case ev.Over(r.now()):
		out.Ignored = "event over"
		return nil
	}
	return r.apply(ctx, tx, p, inv, ev, a)
}

// answered logs what an answer from a channel did and returns it.
func (r *RSVP[T]) answered(channel string, out Outcome, err error) (Outcome, error) {
	if errors.Is(err, ErrNotFound) {
		return Outcome{}, err
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("answer from the %s: %w", channel, err)
	}
	if out.Ignored != "" {
		r.log().Info(channel+" answer ignored", "invitation", out.InvitationID, "reason", out.Ignored)
	} else {
		r.log().Info(channel+" answer applied", "invitation", out.InvitationID, "answer", out.Answer)
	}
	return out, nil
}

// RotateCalendarByToken gives the participant a mail's token was sent to
// a new personal calendar link, for one that was shared too widely: every
// older link stops opening their calendar. It returns the new token.
func (r *RSVP[T]) RotateCalendarByToken(ctx context.Context, token string) (string, error) {
	fresh := NewToken()
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		_, p, err := invitationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		if err := tx.RotateCalendarToken(ctx, p.ID, fresh); err != nil {
			return err
		}
		r.log().Info("personal calendar link rotated", "participant", p.ID)
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("rotate calendar link: %w", err)
	}
	if err != nil {
		return "", err
	}
	return fresh, nil
}

// UnsubscribeByToken stops all mail to the address a mail's token was
// sent to (RFC 8058 one-click, or the unsubscribe page's button). The
// participations stand: leaving an event is an answer, not this.
func (r *RSVP[T]) UnsubscribeByToken(ctx context.Context, token string) error {
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		inv, p, err := invitationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		if p.Unsubscribed {
			return nil
		}
		p.Unsubscribed = true
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return fmt.Errorf("save participant: %w", err)
		}
		r.log().Info("address unsubscribed from all mail", "participant", p.ID, "invitation", inv.ID)
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return err
}
