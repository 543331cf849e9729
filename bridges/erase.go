package bridges

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Forgetter retracts a participant's actor from the federated world
// (package federation implements it): a Delete of the actor, delivered
// durably in tx to the organisers it spoke to.
type Forgetter[T Tx] interface {
	Forget(ctx context.Context, tx T, p *Participant, organizers []string) error
}

// Erased says what erasing a participant did.
type Erased struct {
	// Left counts the future events a Leave was sent for.
	Left int
	// ActorDeleted is set when a Delete of their actor was sent.
	ActorDeleted bool
	// Invitations counts the invitations removed.
	Invitations int
}

// Erase removes everything held about an address (or a fediverse
// account, named by its URI: https://…): it leaves the future
// events the participant joined (a Leave each, through the Participator,
// as a "no" would), sends a Delete of their actor to the organisers it
// spoke to, and deletes their rows. Mails still queued for them find
// nothing and are dropped. An address that asked for no more mail stays
// on that list, by hash only, so that the wish outlives the erasure.
func (r *RSVP[T]) Erase(ctx context.Context, address string, f Forgetter[T]) (Erased, error) {
	var out Erased
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		out = Erased{}
		who := strings.TrimSpace(address)
		find := tx.ParticipantByAddress
		if strings.HasPrefix(who, "https://") || strings.HasPrefix(who, "http://") {
			find = tx.ParticipantByFediverse
		}
		p, err := find(ctx, who)
		if err != nil {
			return err
		}
		invs, err := tx.InvitationsOfParticipant(ctx, p.ID)
		if err != nil {
			return err
		}
		var organizers []string
		for _, inv := range invs {
			ev, err := tx.EventByID(ctx, inv.EventID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if ev == nil || inv.JoinID == "" {
				continue
			}
			if ev.OrganizerURL != "" && !slices.Contains(organizers, ev.OrganizerURL) {
				organizers = append(organizers, ev.OrganizerURL)
			}
			if inv.State.Joined() && !ev.Deleted && !ev.Over(r.now()) {
				if err := r.Participator.Leave(ctx, tx, p, ev, inv.JoinID); err != nil {
					return fmt.Errorf("leave event %s: %w", ev.APID, err)
				}
				out.Left++
			}
		}
		if p.ActorID != 0 && f != nil {
			if err := f.Forget(ctx, tx, p, organizers); err != nil {
				return fmt.Errorf("delete the participant's actor: %w", err)
			}
			out.ActorDeleted = true
		}
		out.Invitations = len(invs)
		return tx.DeleteParticipant(ctx, p.ID)
	})
	if err != nil {
		return Erased{}, fmt.Errorf("erase participant: %w", err)
	}
	r.log().Info("participant erased", "left", out.Left, "actor_deleted", out.ActorDeleted, "invitations", out.Invitations)
	return out, nil
}
