package bridges

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// fediRecorder is the fediverse channel: it records the notices.
type fediRecorder struct{ notices []Notice }

func (f *fediRecorder) Notify(_ context.Context, _ Tx, _ *Invitation, n Notice) error {
	f.notices = append(f.notices, n)
	return nil
}

func fediSetup(t *testing.T, mode JoinMode, remaining *int) (*RSVP[*memRSVP], *memRSVP, *recorder, *fediRecorder) {
	t.Helper()
	mem := newMem()
	mem.events[1] = &StoredEvent{Event: Event{ID: 1, APID: "https://mobilizon.test/events/1", Title: "Apéro",
		Start: t0.Add(7 * 24 * time.Hour), Status: StatusConfirmed, JoinMode: mode, RemainingCapacity: remaining}}
	rec, fedi := &recorder{mem: mem}, &fediRecorder{}
	return &RSVP[*memRSVP]{Store: mem, Participator: rec, Mailer: rec, Fediverse: fedi, Now: func() time.Time { return t0 }}, mem, rec, fedi
}

const bob = "https://social.example/users/bob"

func TestFediverseAnswerFreeEvent(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, fedi := fediSetup(t, JoinFree, nil)
	// "no" and "maybe" from someone who never said yes: nothing at all.
	for _, a := range []Answer{AnswerDeclined, AnswerTentative} {
		out, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: a})
		if err != nil || out.Ignored == "" || len(mem.participants) != 0 {
			t.Fatalf("%s from a stranger: %+v, %v, participants %d", a, out, err, len(mem.participants))
		}
	}
	out, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted})
	if err != nil || out.Ignored != "" || out.InvitationID == 0 {
		t.Fatalf("yes: %+v, %v", out, err)
	}
	if len(mem.participants) != 1 || mem.participants[0].Fediverse != bob || mem.participants[0].Address != "" {
		t.Fatalf("participants %+v", mem.participants)
	}
	if c := rec.take(); !slices.Equal(c, []string{"join https://mobilizon.test/events/1"}) {
		t.Errorf("calls %q, want the Join and no mail", c)
	}
	// A flood of yes from the same account joins once.
	for range 50 {
		if out, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted}); err != nil || out.Ignored == "" {
			t.Fatalf("repeated yes: %+v, %v", out, err)
		}
	}
	if len(rec.take()) != 0 || len(mem.participants) != 1 || len(mem.invitations) != 1 {
		t.Fatal("a repeated yes acted")
	}
	inv := mem.invitations[0]
	if err := r.JoinAnswered(ctx, mem, inv.JoinID, JoinAccepted); err != nil {
		t.Fatal(err)
	}
	if len(rec.take()) != 0 || !slices.Equal(fedi.notices, []Notice{NoticeJoined}) {
		t.Fatalf("after Accept: fediverse notices %q, want joined only (no mail)", fedi.notices)
	}
	out, err = r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerDeclined})
	if err != nil || out.Ignored != "" || inv.State != StateLeft {
		t.Fatalf("not going: %+v, %v, state %s", out, err, inv.State)
	}
	if c := rec.take(); !slices.Equal(c, []string{"leave https://mobilizon.test/events/1"}) || fedi.notices[len(fedi.notices)-1] != NoticeLeft {
		t.Errorf("leave calls %q, notices %q", c, fedi.notices)
	}
}

func TestFediverseAnswerRestrictedAndFull(t *testing.T) {
	ctx := context.Background()
	r, mem, _, fedi := fediSetup(t, JoinRestricted, nil)
	if _, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted}); err != nil {
		t.Fatal(err)
	}
	if err := r.JoinAnswered(ctx, mem, mem.invitations[0].JoinID, JoinRejected); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fedi.notices, []Notice{NoticePending, NoticeRejected}) {
		t.Errorf("restricted: notices %q", fedi.notices)
	}

	zero := 0
	r, mem, rec, fedi := fediSetup(t, JoinFree, &zero)
	if _, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted}); err != nil {
		t.Fatal(err)
	}
	if len(rec.take()) != 0 || !slices.Equal(fedi.notices, []Notice{NoticeFull}) {
		t.Errorf("full: notices %q (no Join may be sent)", fedi.notices)
	}
}

func TestFediverseAnswerCancelledOrOver(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, fedi := fediSetup(t, JoinFree, nil)
	mem.events[1].Status = StatusCancelled
	out, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted})
	if err != nil || !strings.Contains(out.Ignored, "cancelled") || len(rec.calls) != 0 || len(fedi.notices) != 0 {
		t.Errorf("cancelled event: %+v, %v", out, err)
	}
	mem.events[1].Status = StatusConfirmed
	mem.events[1].Start = t0.Add(-48 * time.Hour)
	out, err = r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted})
	if err != nil || !strings.Contains(out.Ignored, "over") || len(mem.participants) != 0 {
		t.Errorf("event over: %+v, %v", out, err)
	}
	if _, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{EventID: 1, Answer: AnswerAccepted}); err == nil {
		t.Error("an answer without an account was taken")
	}
}

// TestFediverseErase: `participant erase` takes the account's URI and
// leaves what it joined, as for an address.
func TestFediverseErase(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, _ := fediSetup(t, JoinFree, nil)
	if _, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted}); err != nil {
		t.Fatal(err)
	}
	rec.take()
	out, err := r.Erase(ctx, bob, nil)
	if err != nil || out.Left != 1 || out.Invitations != 1 || len(mem.participants) != 0 {
		t.Fatalf("erase: %+v, %v, participants %d", out, err, len(mem.participants))
	}
	if c := rec.take(); !slices.Equal(c, []string{"leave https://mobilizon.test/events/1"}) {
		t.Errorf("calls %q", c)
	}
}

// TestRSVPWithoutMail: the flow runs for fediverse answers when mail is
// not configured; what only mail can do is refused, never a nil call.
func TestRSVPWithoutMail(t *testing.T) {
	ctx := context.Background()
	r, mem, _, fedi := fediSetup(t, JoinRestricted, nil)
	r.Mailer = nil
	if _, err := r.Invite(ctx, "ana@example.net", []int64{1}); err == nil {
		t.Error("an invitation was made without mail")
	}
	if err := r.EventChanged(ctx, mem, Change{Kind: ChangeCreated, Event: mem.events[1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AnswerFromFediverse(ctx, mem, FediverseAnswer{Account: bob, EventID: 1, Answer: AnswerAccepted}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fedi.notices, []Notice{NoticePending}) {
		t.Errorf("notices %q", fedi.notices)
	}
}
