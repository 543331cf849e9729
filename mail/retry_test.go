package mail

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// flakyRelay submits the first attempts to an address the real test
// server refuses with 451 (a relay's "try again later"), then to the real
// recipient, recording when each attempt came.
type flakyRelay struct {
	relay    *SMTP
	failures int
	mu       sync.Mutex
	attempts []time.Time
	errs     []error
}

func (f *flakyRelay) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	f.mu.Lock()
	n := len(f.attempts)
	f.attempts = append(f.attempts, time.Now())
	f.mu.Unlock()
	if n < f.failures {
		err := f.relay.Send(ctx, from, []string{"tempfail@example.net"}, msg)
		f.mu.Lock()
		f.errs = append(f.errs, err)
		f.mu.Unlock()
		return err
	}
	return f.relay.Send(ctx, from, to, msg)
}

// TestSendRetriesTemporaryFailure: a relay's 4xx is temporary; the send
// job is retried with backoff (River: about attempt⁴ seconds), the mail
// goes out once it is accepted, and the mail log says sent, once.
func TestSendRetriesTemporaryFailure(t *testing.T) {
	ctx := context.Background()
	env := newFlow(t, bridges.JoinFree)
	relay, err := ParseSMTP(env.smtp.URL())
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyRelay{relay: relay, failures: 1}
	// A second sender on the same queue would race the first: swap the
	// submitter of the flow's own sender instead.
	env.sender.SMTP = flaky
	ids, err := env.rsvp.Invite(ctx, "ana@example.net", []int64{env.event.ID})
	if err != nil {
		t.Fatal(err)
	}
	msgs := env.smtp.Wait(t, 1, 30*time.Second)
	if !strings.Contains(string(msgs[0]), "X-Envelope-To: ana@example.net") {
		t.Errorf("delivered to the wrong place:\n%.300s", msgs[0])
	}
	flaky.mu.Lock()
	attempts, errs := flaky.attempts, flaky.errs
	flaky.mu.Unlock()
	if len(attempts) != 2 {
		t.Fatalf("%d attempts, want 2", len(attempts))
	}
	var se *smtp.SMTPError
	var perm *PermanentError
	if !errors.As(errs[0], &se) || se.Code != 451 || errors.As(errs[0], &perm) {
		t.Errorf("first attempt's error %v: want a temporary 451", errs[0])
	}
	if gap := attempts[1].Sub(attempts[0]); gap < 500*time.Millisecond {
		t.Errorf("retried after %s: want River's backoff (about 1s for a first retry)", gap)
	}
	// The job records the send after the server took the message: poll.
	var log []store.MailLogEntry
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			log, err = tx.MailLog(ctx, ids[0])
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(log) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(log) != 1 || log[0].Status != "sent" {
		t.Errorf("mail log %+v, want one sent entry", log)
	}
}
