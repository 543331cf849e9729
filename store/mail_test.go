package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

func TestMailStorage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
		ev := &bridges.StoredEvent{Event: sampleEvent("https://mobilizon.test/events/rsvp", start)}
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			ev.CreatedAt, ev.ModifiedAt = time.Now(), time.Now()
			if err := tx.SaveEvent(ctx, ev); err != nil {
				return err
			}
			p := &bridges.Participant{Address: "Jane@Example.net", CreatedAt: time.Now()}
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			return tx.SaveParticipant(ctx, &bridges.Participant{Address: "jane@example.NET"})
		})
		if err == nil {
			t.Error("the same address in another case made a second participant")
		}
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			p, err := tx.ParticipantByAddress(ctx, "JANE@example.net")
			if err != nil {
				return err
			}
			if p.Address != "Jane@Example.net" || p.Unsubscribed {
				t.Errorf("participant %+v", p)
			}
			inv := &bridges.Invitation{ParticipantID: p.ID, EventID: ev.ID, State: bridges.StateInvited, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := tx.SaveInvitation(ctx, inv); err != nil {
				return err
			}
			if err := tx.AddToken(ctx, inv.ID, bridges.HashToken("secret-token")); err != nil {
				return err
			}
			if err := tx.LogMail(ctx, store.MailLogEntry{Direction: "out", MessageID: "m1@passerelle.test", InvitationID: inv.ID, Kind: "invitation", Status: "sent"}); err != nil {
				return err
			}
			inv.State, inv.JoinID, inv.Thread = bridges.StateJoining, "https://passerelle.test/joins/1", "m1@passerelle.test"
			if err := tx.SaveInvitation(ctx, inv); err != nil {
				return err
			}
			for name, get := range map[string]func() (*bridges.Invitation, error){
				"token": func() (*bridges.Invitation, error) {
					return tx.InvitationByTokenHash(ctx, bridges.HashToken("secret-token"))
				},
				"message": func() (*bridges.Invitation, error) { return tx.InvitationByMessageID(ctx, "m1@passerelle.test") },
				"join": func() (*bridges.Invitation, error) {
					return tx.InvitationByJoinID(ctx, "https://passerelle.test/joins/1")
				},
				"pair": func() (*bridges.Invitation, error) { return tx.InvitationFor(ctx, p.ID, ev.ID) },
			} {
				got, err := get()
				if err != nil || got.ID != inv.ID || got.State != bridges.StateJoining || got.Thread != "m1@passerelle.test" {
					t.Errorf("by %s: %+v, %v", name, got, err)
				}
			}
			if _, err := tx.InvitationByTokenHash(ctx, bridges.HashToken("forged")); !errors.Is(err, bridges.ErrNotFound) {
				t.Errorf("forged token: %v", err)
			}
			for i, want := range []bool{true, false} {
				if first, err := tx.FirstSeen(ctx, "reply-1@example.net"); err != nil || first != want {
					t.Errorf("FirstSeen #%d = %v, %v", i, first, err)
				}
			}
			p.Unsubscribed = true
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			if err := tx.DeleteParticipant(ctx, p.ID); err != nil {
				return err
			}
			if _, err := tx.InvitationByID(ctx, inv.ID); !errors.Is(err, bridges.ErrNotFound) {
				t.Errorf("invitation survived erasure: %v", err)
			}
			// The wish for no mail outlives the erasure.
			if u, err := tx.Unsubscribed(ctx, "jane@example.net"); err != nil || !u {
				t.Errorf("Unsubscribed after erase = %v, %v", u, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// IMAP bookkeeping: the last UID never goes back within one
		// UIDVALIDITY, and a new UIDVALIDITY starts over.
		for _, s := range []store.IMAPState{{UIDValidity: 7, LastUID: 10}, {UIDValidity: 7, LastUID: 4}} {
			if err := db.SaveIMAPState(ctx, "INBOX", s); err != nil {
				t.Fatal(err)
			}
		}
		if s, _ := db.IMAPState(ctx, "INBOX"); s != (store.IMAPState{UIDValidity: 7, LastUID: 10}) {
			t.Errorf("state %+v, want 7/10", s)
		}
		_ = db.SaveIMAPState(ctx, "INBOX", store.IMAPState{UIDValidity: 8, LastUID: 2})
		if s, _ := db.IMAPState(ctx, "INBOX"); s != (store.IMAPState{UIDValidity: 8, LastUID: 2}) {
			t.Errorf("state %+v, want 8/2", s)
		}

		// One watcher at a time.
		if ok, err := db.AcquireLease(ctx, "INBOX", "replica-a", time.Minute); !ok || err != nil {
			t.Fatalf("a: %v %v", ok, err)
		}
		if ok, _ := db.AcquireLease(ctx, "INBOX", "replica-b", time.Minute); ok {
			t.Error("b took a lease a holds")
		}
		if ok, _ := db.AcquireLease(ctx, "INBOX", "replica-a", time.Minute); !ok {
			t.Error("a could not renew its lease")
		}
		if err := db.ReleaseLease(ctx, "INBOX", "replica-a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.AcquireLease(ctx, "INBOX", "replica-b", time.Minute); !ok {
			t.Error("b could not take a released lease")
		}
		if s, _ := db.IMAPState(ctx, "INBOX"); s.LastUID != 2 {
			t.Errorf("lease changes touched the UID bookkeeping: %+v", s)
		}
	})
}
