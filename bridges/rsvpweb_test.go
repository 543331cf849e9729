package bridges

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRSVPByToken(t *testing.T) {
	ctx := context.Background()
	r, _, rec, id := setup(t, JoinFree, nil)
	got, err := r.ByToken(ctx, "tok-1-0")
	if err != nil || got.Invitation.ID != id || got.Event.ID != 1 || got.Unsubscribed {
		t.Fatalf("ByToken = %+v, %v", got, err)
	}
	for _, bad := range []string{"", " ", "tok-9-9", "TOK-1-0"} {
		if _, err := r.ByToken(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("ByToken(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if c := rec.take(); len(c) != 0 {
		t.Errorf("reading a token acted: %q", c)
	}
}

func TestRSVPAnswerByToken(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		answers []Answer
		state   ParticipationState
		calls   []string // prefixes
	}{
		{"yes joins", []Answer{AnswerAccepted}, StateJoining, []string{"join "}},
		{"maybe is noted", []Answer{AnswerTentative}, StateTentative, []string{"mail maybe"}},
		{"no declines quietly", []Answer{AnswerDeclined}, StateDeclined, nil},
		{"yes then no leaves", []Answer{AnswerAccepted, AnswerDeclined}, StateLeft, []string{"join ", "leave ", "mail left"}},
		{"yes twice joins once", []Answer{AnswerAccepted, AnswerAccepted}, StateJoining, []string{"join "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, mem, rec, _ := setup(t, JoinFree, nil)
			for _, a := range tt.answers {
				out, err := r.AnswerByToken(ctx, "tok-1-0", a)
				if err != nil || out.Ignored != "" || out.Answer != a {
					t.Fatalf("AnswerByToken(%s) = %+v, %v", a, out, err)
				}
			}
			if s := mem.invitations[0].State; s != tt.state {
				t.Errorf("state %s, want %s", s, tt.state)
			}
			c := rec.take()
			if len(c) != len(tt.calls) {
				t.Fatalf("calls %q, want %q", c, tt.calls)
			}
			for i := range c {
				if !strings.HasPrefix(c[i], tt.calls[i]) {
					t.Errorf("call %d = %q, want %q…", i, c[i], tt.calls[i])
				}
			}
		})
	}
}

func TestRSVPAnswerByTokenRefuses(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, _ := setup(t, JoinFree, nil)
	if _, err := r.AnswerByToken(ctx, "tok-1-0", Answer("yes")); err == nil {
		t.Error("an unknown answer was accepted")
	}
	if _, err := r.AnswerByToken(ctx, "nope", AnswerAccepted); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	mem.events[1].Status = StatusCancelled
	out, err := r.AnswerByToken(ctx, "tok-1-0", AnswerAccepted)
	if err != nil || out.Ignored != "event cancelled" {
		t.Errorf("cancelled event: %+v, %v", out, err)
	}
	if c := rec.take(); len(c) != 0 || mem.invitations[0].State != StateInvited {
		t.Errorf("refused answers acted: %q, state %s", c, mem.invitations[0].State)
	}
}

func TestRSVPUnsubscribeByToken(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, _ := setup(t, JoinFree, nil)
	for range 2 { // the second click changes nothing and does not fail
		if err := r.UnsubscribeByToken(ctx, "tok-1-0"); err != nil {
			t.Fatal(err)
		}
	}
	if !mem.participants[0].Unsubscribed {
		t.Error("participant still subscribed")
	}
	got, err := r.ByToken(ctx, "tok-1-0")
	if err != nil || !got.Unsubscribed {
		t.Errorf("ByToken after unsubscribing = %+v, %v", got, err)
	}
	if err := r.UnsubscribeByToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	// Inviting the address again sends nothing.
	mem.events[2] = &StoredEvent{Event: Event{ID: 2, APID: "https://mobilizon.test/events/2", Start: mem.events[1].Start, Status: StatusConfirmed}}
	if _, err := r.Invite(ctx, "jane@example.net", []int64{2}); !errors.Is(err, ErrUnsubscribed) {
		t.Errorf("Invite after unsubscribing: %v", err)
	}
	if c := rec.take(); !slices.Equal(c, nil) {
		t.Errorf("calls %q", c)
	}
}
