package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/federation/signing"
	"codeberg.org/passerelle/passerelle/store"
)

// This file speaks for email
// participants: each gets a pseudonymous Person of its own (Mobilizon
// allows one participation per actor per event), and Joins and Leaves are
// delivered from it through the durable, signed delivery.

var _ bridges.Participator[*store.Tx] = (*Outbox)(nil)

// participantName is the neutral name every participant's actor shows:
// nothing about the person leaves passerelle.
const participantName = "Participant (by email, via passerelle)"

// participantActor returns the username of the participant's actor,
// creating the actor (with its own key) on first use and setting p.ActorID.
func (s *Outbox) participantActor(ctx context.Context, tx *store.Tx, p *bridges.Participant) (string, error) {
	if p.ActorID != 0 {
		username, err := tx.LocalActorUsername(ctx, p.ActorID)
		if err != nil {
			return "", fmt.Errorf("load participant actor: %w", err)
		}
		return username, nil
	}
	priv, pub, err := signing.GenerateKeyPEM()
	if err != nil {
		return "", err
	}
	name := p.DisplayName
	if name == "" {
		name = participantName
	}
	// A random username: the actor's URL must say nothing of the address.
	a := &store.LocalActor{Kind: store.ActorParticipant, Username: "p-" + randomID(), DisplayName: name, PrivateKeyPEM: priv, PublicKeyPEM: pub, CreatedAt: s.Now()}
	if err := tx.CreateLocalActor(ctx, a); err != nil {
		return "", err
	}
	p.ActorID = a.ID
	return a.Username, nil
}

// participationActivity builds a Join or Leave of the event the way
// Mobilizon writes its own (FORMAT.md §5.1, §5.4): the event by URL,
// addressed to the participant and the organiser (group or person) —
// Mobilizon's personal inboxes refuse activities that do not name them.
// Nothing is public: a participation is between the participant and the
// organisers.
func (s *Outbox) participationActivity(kind, id, actor string, ev *bridges.StoredEvent) ([]byte, error) {
	act := map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"type":     kind,
		"id":       id,
		"actor":    actor,
		"object":   ev.APID,
		"to":       []string{actor, ev.OrganizerURL},
		"cc":       []string{},
	}
	if kind == "Join" {
		act["participationMessage"] = nil
	}
	return json.Marshal(act)
}

// Join sends a signed Join{event} from the participant's actor to the
// event's organiser, durably, in tx; it returns the Join's id, which the
// organiser's Accept or Reject will name.
func (s *Outbox) Join(ctx context.Context, stx *store.Tx, p *bridges.Participant, ev *bridges.StoredEvent) (string, error) {
	if ev.OrganizerURL == "" {
		return "", fmt.Errorf("join %s: the event names no organiser to send the Join to", ev.APID)
	}
	username, err := s.participantActor(ctx, stx, p)
	if err != nil {
		return "", err
	}
	id := s.NewActivityID("join")
	body, err := s.participationActivity("Join", id, s.ActorURL(username), ev)
	if err != nil {
		return "", err
	}
	if err := s.Deliver(ctx, stx, p.ActorID, Recipient{Actor: ev.OrganizerURL}, body); err != nil {
		return "", err
	}
	return id, nil
}

// Leave sends a signed Leave{event} from the participant's actor.
func (s *Outbox) Leave(ctx context.Context, stx *store.Tx, p *bridges.Participant, ev *bridges.StoredEvent, joinID string) error {
	if p.ActorID == 0 || ev.OrganizerURL == "" {
		return nil // never joined from an actor: nothing to leave
	}
	username, err := s.participantActor(ctx, stx, p)
	if err != nil {
		return err
	}
	body, err := s.participationActivity("Leave", s.NewActivityID("leave"), s.ActorURL(username), ev)
	if err != nil {
		return err
	}
	return s.Deliver(ctx, stx, p.ActorID, Recipient{Actor: ev.OrganizerURL}, body)
}

// Forget sends a Delete of the participant's actor to the organisers it
// spoke to, durably, in tx, and gives the actor back its neutral name.
// The actor's row and key stay until the queued Leaves and this Delete
// are sent (they are signed with that key then, and recipients fetch it):
// an EraseActorJob, enqueued in tx, removes them after that (erase.go).
func (s *Outbox) Forget(ctx context.Context, stx *store.Tx, p *bridges.Participant, organizers []string) error {
	if p.ActorID == 0 {
		return nil
	}
	username, err := s.participantActor(ctx, stx, p)
	if err != nil {
		return err
	}
	if err := stx.SetLocalActorDisplayName(ctx, p.ActorID, participantName); err != nil {
		return fmt.Errorf("neutralise participant actor: %w", err)
	}
	actor := s.ActorURL(username)
	body, err := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"type":     "Delete",
		"id":       s.NewActivityID("delete"),
		"actor":    actor,
		"object":   actor,
		"to":       []string{"https://www.w3.org/ns/activitystreams#Public"},
	})
	if err != nil {
		return err
	}
	for _, o := range organizers {
		if err := s.Deliver(ctx, stx, p.ActorID, Recipient{Actor: o}, body); err != nil {
			return err
		}
	}
	return s.enqueueEraseActor(ctx, stx, p.ActorID)
}

var _ bridges.Forgetter[*store.Tx] = (*Outbox)(nil)
