package mail

import (
	"bytes"
	"codeberg.org/passerelle/passerelle/internal/wait"
	"context"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/mailtest"
	"codeberg.org/passerelle/passerelle/store"
)

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	return wait.For(t, within, what, cond)
}

func (j *joinRecorder) counts() (int, int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.joins), len(j.left)
}

// TestWatcherDovecot proves the watcher against a real Dovecot: IDLE
// picks up an appended reply, the watcher survives a server restart, a new
// UIDVALIDITY is rescanned without reprocessing, and a restarted watcher
// does not process old mail again.
func TestWatcherDovecot(t *testing.T) {
	ctx := context.Background()
	env := newFlow(t, bridges.JoinFree)
	dove := mailtest.StartDovecot(t)
	const invitee = "tcataldo@gmail.com"
	if _, err := env.rsvp.Invite(ctx, invitee, []int64{env.event.ID}); err != nil {
		t.Fatal(err)
	}
	in, err := Parse(bytes.NewReader(env.smtp.Wait(t, 1, 20*time.Second)[0]), 0)
	if err != nil {
		t.Fatal(err)
	}
	organizer := in.Calendars[0].Events[0].Organizer

	start := func(holder string) (stop func()) {
		w, err := NewWatcher(dove.URL(), Watcher{DB: env.db, Receiver: env.recv, Holder: holder, IdleRestart: 2 * time.Second, LeaseTTL: 6 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = w.Run(wctx); close(done) }()
		return func() { cancel(); <-done }
	}
	stop := start("replica-a")
	// A second replica waits for the lease instead of watching too.
	stopB := start("replica-b")
	defer stopB()

	accept := realReply(t, "gmail-reply-accepted.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", env.event.APID, "thomas.cataldo@blue-mind.net", organizer)
	time.Sleep(500 * time.Millisecond) // let the watcher reach IDLE
	dove.Append(t, accept)
	took := waitFor(t, "Join after APPEND", 10*time.Second, func() bool { j, _ := env.joins.counts(); return j == 1 })
	t.Logf("APPEND → Join with IDLE: %s", took)

	// The server goes away and comes back: the watcher reconnects.
	dove.Restart()
	decline := realReply(t, "gmail-reply-declined.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", env.event.APID, "thomas.cataldo@blue-mind.net", organizer)
	dove.Append(t, decline)
	waitFor(t, "Leave after a server restart", 20*time.Second, func() bool { _, l := env.joins.counts(); return l == 1 })

	// The mailbox is rebuilt (new UIDVALIDITY) and the old mails are put
	// back: they are looked at again, but not applied twice.
	before, err := env.db.IMAPState(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	dove.ResetMailbox()
	dove.Append(t, accept)
	dove.Append(t, decline)
	st := waitState(t, env, before.UIDValidity)
	if j, l := env.joins.counts(); j != 1 || l != 1 {
		t.Errorf("after UIDVALIDITY change: %d joins %d leaves, want 1 and 1", j, l)
	}
	stop()

	// A restarted watcher starts from the recorded UID.
	tentative := realReply(t, "gmail-reply-tentative.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", env.event.APID, "thomas.cataldo@blue-mind.net", organizer)
	dove.Append(t, tentative)
	stop = start("replica-a")
	defer stop()
	waitFor(t, "maybe mail after restart", 20*time.Second, func() bool {
		for _, m := range env.smtp.Messages(t) {
			if bytes.Contains(m, []byte("Subject: =?utf-8?q?Noted_as_maybe")) {
				return true
			}
		}
		return false
	})
	if j, l := env.joins.counts(); j != 1 || l != 1 {
		t.Errorf("after watcher restart: %d joins %d leaves", j, l)
	}
	if st2, _ := env.db.IMAPState(ctx, "INBOX"); st2.UIDValidity != st.UIDValidity || st2.LastUID != 3 {
		t.Errorf("state %+v, want UIDVALIDITY %d and last UID 3", st2, st.UIDValidity)
	}
}

// waitState waits until the watcher recorded a UIDVALIDITY other than
// old and both re-appended mails under it.
func waitState(t *testing.T, env *flowEnv, old uint32) store.IMAPState {
	t.Helper()
	var st store.IMAPState
	waitFor(t, "rescan after UIDVALIDITY change", 30*time.Second, func() bool {
		s, err := env.db.IMAPState(context.Background(), "INBOX")
		st = s
		return err == nil && s.UIDValidity != old && s.LastUID == 2
	})
	return st
}
