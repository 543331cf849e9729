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

// TestMastodonReplyStorage covers migration 0014's tables on both
// backends: the mentions lease and cursor, replies read once, fediverse
// participants beside mail ones, and the record of direct replies.
func TestMastodonReplyStorage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		src := &bridges.Source{Slug: "cafe", ActorURL: "https://mobilizon.test/@cafe", Software: "mobilizon", State: bridges.SourceFollowed, CreatedAt: time.Now()}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
			t.Fatal(err)
		}
		ev := sampleEvent("https://mobilizon.test/events/1", time.Now().Add(24*time.Hour))
		ev.SourceID = src.ID
		ch, err := (&bridges.Events[*store.Tx]{Store: db}).Apply(ctx, ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		evID := ch.Event.ID
		acct := &store.MastodonAccount{Instance: "https://social.test", Acct: "@events@social.test", RemoteID: "1", Token: "t", State: "active", Scopes: "read write"}
		if err := db.SaveMastodonAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		if got, err := db.MastodonAccount(ctx, acct.ID); err != nil || got.Scopes != "read write" {
			t.Fatalf("scopes: %+v, %v", got, err)
		}

		// One replica at a time reads an account's mentions.
		if ok, err := db.LeaseMastodonMentions(ctx, acct.ID, "a", time.Minute); err != nil || !ok {
			t.Fatalf("lease a: %v, %v", ok, err)
		}
		if ok, _ := db.LeaseMastodonMentions(ctx, acct.ID, "b", time.Minute); ok {
			t.Fatal("b took a held lease")
		}
		if err := db.SaveMastodonMentions(ctx, store.MastodonMentions{AccountID: acct.ID, Cursor: "42", Failures: 2, NextAt: time.Now().Add(time.Minute), LastError: "503"}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.LeaseMastodonMentions(ctx, acct.ID, "a", time.Minute); !ok {
			t.Fatal("a could not renew its lease after saving the cursor")
		}
		if err := db.ReleaseMastodonMentions(ctx, acct.ID, "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.LeaseMastodonMentions(ctx, acct.ID, "b", time.Minute); !ok {
			t.Fatal("b could not take a released lease")
		}
		m, err := db.MastodonMentions(ctx, acct.ID)
		if err != nil || m.Cursor != "42" || m.Failures != 2 || m.LastError != "503" {
			t.Fatalf("mentions %+v, %v", m, err)
		}

		// Only the event's own posted status is answered.
		for _, p := range []*store.MastodonPost{
			{EventID: evID, AccountID: acct.ID, Kind: "status", StatusID: "100", State: "posted"},
			{EventID: evID, AccountID: acct.ID, Kind: "cancel", StatusID: "101", State: "posted"},
		} {
			if err := db.SaveMastodonPost(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if id, err := db.EventOfMastodonStatus(ctx, acct.ID, "100"); err != nil || id != evID {
			t.Fatalf("event of status 100: %d, %v", id, err)
		}
		if _, err := db.EventOfMastodonStatus(ctx, acct.ID, "101"); !errors.Is(err, bridges.ErrNotFound) {
			t.Fatalf("a reply to the cancellation found an event: %v", err)
		}

		var invID int64
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			for i, want := range []bool{true, false} {
				if first, err := tx.MastodonReplySeen(ctx, acct.ID, "200", ""); err != nil || first != want {
					t.Fatalf("seen #%d: %v, %v", i, first, err)
				}
			}
			if first, _ := tx.MastodonReplySeen(ctx, acct.ID, "200", "2026-01-01T00:00:00Z"); !first {
				t.Fatal("an edited reply was taken as seen")
			}
			// A fediverse participant and a mail one never meet.
			p := &bridges.Participant{Fediverse: "https://social.example/users/bob"}
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			if got, err := tx.ParticipantByFediverse(ctx, "https://social.example/users/bob"); err != nil || got.ID != p.ID || got.Address != "" {
				t.Fatalf("by URI: %+v, %v", got, err)
			}
			if _, err := tx.ParticipantByAddress(ctx, "fediverse:https://social.example/users/bob"); !errors.Is(err, bridges.ErrNotFound) {
				t.Fatalf("an address lookup found a fediverse participant: %v", err)
			}
			if err := tx.SaveParticipant(ctx, &bridges.Participant{Address: "fediverse:https://social.example/users/bob"}); err == nil {
				t.Fatal("an address shaped like a fediverse key was saved")
			}
			inv := &bridges.Invitation{ParticipantID: p.ID, EventID: evID, State: bridges.StateInvited, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := tx.SaveInvitation(ctx, inv); err != nil {
				return err
			}
			invID = inv.ID
			return tx.SaveMastodonAnswerer(ctx, store.MastodonAnswerer{InvitationID: inv.ID, AccountID: acct.ID, Acct: "bob@social.example", StatusID: "200"})
		})
		if err != nil {
			t.Fatal(err)
		}
		if counts, err := db.ParticipationCounts(ctx); err != nil || counts["fediverse"]["invited"] != 1 || len(counts["mail"]) != 0 {
			t.Fatalf("participation counts %v, %v", counts, err)
		}
		if a, err := db.MastodonAnswerer(ctx, invID); err != nil || a.Acct != "bob@social.example" || a.StatusID != "200" {
			t.Fatalf("answerer %+v, %v", a, err)
		}
		d := &store.MastodonDirect{Key: "k1", InvitationID: invID, Notice: "joined", State: "pending", AttemptedAt: time.Now()}
		if err := db.SaveMastodonDirect(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.State, d.StatusID = "posted", "300"
		if err := db.SaveMastodonDirect(ctx, d); err != nil {
			t.Fatal(err)
		}
		if got, err := db.MastodonDirect(ctx, "k1"); err != nil || got.State != "posted" || got.StatusID != "300" || got.InvitationID != invID {
			t.Fatalf("direct %+v, %v", got, err)
		}
		if list, err := db.MastodonDirectsOf(ctx, invID); err != nil || len(list) != 1 {
			t.Fatalf("directs of invitation: %+v, %v", list, err)
		}
		rec, err := db.ParticipantRecord(ctx, "https://social.example/users/bob")
		if err != nil || rec.Fediverse != "https://social.example/users/bob" || len(rec.Invitations) != 1 ||
			rec.Invitations[0].Handle != "bob@social.example" || len(rec.Invitations[0].Replies) != 1 || rec.Invitations[0].Replies[0].StatusID != "300" {
			t.Fatalf("export: %+v, %v", rec, err)
		}
		// Erasing the participant removes their handle; the record that
		// the reply was sent stays, unlinked.
		err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			p, err := tx.ParticipantByFediverse(ctx, "https://social.example/users/bob")
			if err != nil {
				return err
			}
			return tx.DeleteParticipant(ctx, p.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.MastodonAnswerer(ctx, invID); !errors.Is(err, bridges.ErrNotFound) {
			t.Fatalf("answerer after erasure: %v", err)
		}
		if got, err := db.MastodonDirect(ctx, "k1"); err != nil || got.InvitationID != 0 {
			t.Fatalf("direct after erasure: %+v, %v", got, err)
		}
	})
}
