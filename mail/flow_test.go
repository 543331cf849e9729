package mail

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/calparsers"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/mailtest"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// joinRecorder stands in for the federation side (its own tests cover the
// signed delivery): it creates the participant's actor row and mints Join
// ids, recording what it was asked.
type joinRecorder struct {
	mu    sync.Mutex
	joins []string
	left  []string
}

func (j *joinRecorder) Join(ctx context.Context, tx *store.Tx, p *bridges.Participant, ev *bridges.StoredEvent) (string, error) {
	if p.ActorID == 0 {
		a := &store.LocalActor{Kind: store.ActorParticipant, Username: "p" + NewToken()[:10], DisplayName: "Participant", PrivateKeyPEM: "-", PublicKeyPEM: "-"}
		if err := tx.CreateLocalActor(ctx, a); err != nil {
			return "", err
		}
		p.ActorID = a.ID
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	id := "https://passerelle.test/joins/" + NewToken()
	j.joins = append(j.joins, id)
	return id, nil
}

func (j *joinRecorder) Leave(_ context.Context, _ *store.Tx, _ *bridges.Participant, _ *bridges.StoredEvent, joinID string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.left = append(j.left, joinID)
	return nil
}

type flowEnv struct {
	db    *store.DB
	smtp  *mailtest.SMTPServer
	rsvp  *bridges.RSVP[*store.Tx]
	recv  *Receiver
	joins *joinRecorder
	event *bridges.StoredEvent
	reply ReplyAddress
	// sender is the send worker; tests may swap its submitter.
	sender *Sender
}

func newFlow(t *testing.T, mode bridges.JoinMode) *flowEnv {
	t.Helper()
	ctx := context.Background()
	env := &flowEnv{db: storetest.New(t), smtp: mailtest.StartSMTP(t), joins: &joinRecorder{}, reply: ReplyAddress{Local: "rsvp", Domain: "passerelle.test"}}
	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	env.event = &bridges.StoredEvent{Event: bridges.Event{
		APID: "https://mobilizon.test/events/" + NewToken()[:8], URL: "https://mobilizon.test/events/x", Title: "Répar'café",
		Start: start, End: start.Add(2 * time.Hour), TimeZone: "Europe/Paris", Status: bridges.StatusConfirmed, JoinMode: mode,
		OrganizerName: "Les Répar'acteurs, Lyon", Public: true,
	}}
	env.event.CreatedAt, env.event.ModifiedAt = time.Now(), time.Now()
	if err := env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveEvent(ctx, env.event) }); err != nil {
		t.Fatal(err)
	}
	smtp, err := ParseSMTP(env.smtp.URL())
	if err != nil {
		t.Fatal(err)
	}
	env.rsvp = &bridges.RSVP[*store.Tx]{Store: env.db, Participator: env.joins, Mailer: Notifier{}, ConfirmWait: time.Hour}
	env.recv = &Receiver{RSVP: env.rsvp, Reply: env.reply}
	workers := river.NewWorkers()
	env.sender = &Sender{DB: env.db, SMTP: smtp, From: "Passerelle <events@passerelle.test>", Reply: env.reply,
		PublicURL: "https://passerelle.test", Renderer: &ical.Renderer{}}
	Register(workers, env.sender, &ConfirmChecker{RSVP: env.rsvp})
	storetest.StartJobs(t, env.db, store.Jobs{Workers: workers})
	return env
}

var replyToRe = regexp.MustCompile(`rsvp\+r-[a-z2-7]+@passerelle\.test`)

// realReply turns a real client's reply from the fixtures into an answer
// to our invitation: same bytes, with the event's UID and the tokenised
// address put where the client put the originals.
func realReply(t *testing.T, fixture, oldUID, newUID, oldTo, newTo string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/imip/" + fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("UID:"+oldUID)) || !bytes.Contains(b, []byte(oldTo)) {
		t.Fatalf("%s does not hold UID %s and %s as plain text", fixture, oldUID, oldTo)
	}
	b = bytes.ReplaceAll(b, []byte("UID:"+oldUID), []byte("UID:"+newUID))
	// The reply goes to the address the invitation's ORGANIZER gave.
	return regexp.MustCompile(`(?m)^To: .*\r?$`).ReplaceAllLiteral(b, []byte("To: <"+newTo+">\r"))
}

func TestFlowInviteAnswerConfirm(t *testing.T) {
	clients := []struct {
		fixture, uid, invitee, oldTo string
	}{
		{"gmail-reply-accepted.eml", "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15", "tcataldo@gmail.com", "thomas.cataldo@blue-mind.net"},
		{"apple-ios-reply-accepted-fr.eml", "b84ce20", "admin@willow.vmw", "tom@willow.vmw"},
		{"outlook-mac-reply-accepted.eml", "f1394aba7ca8b9474af204a4d88934b7c7aa2191", "admin@willow.vmw", "tom@willow.vmw"},
	}
	for _, c := range clients {
		t.Run(c.fixture, func(t *testing.T) {
			ctx := context.Background()
			env := newFlow(t, bridges.JoinFree)
			if _, err := env.rsvp.Invite(ctx, c.invitee, []int64{env.event.ID}); err != nil {
				t.Fatal(err)
			}
			inviteMail := env.smtp.Wait(t, 1, 20*time.Second)[0]
			in, err := Parse(bytes.NewReader(inviteMail), 0)
			if err != nil || len(in.Calendars) != 1 || in.Calendars[0].Method != "REQUEST" {
				t.Fatalf("invitation: %v %+v", err, in)
			}
			ev := in.Calendars[0].Events[0]
			if ev.UID != env.event.APID || len(ev.Attendees) != 1 || ev.Attendees[0].PartStat != "NEEDS-ACTION" || !replyToRe.MatchString(ev.Organizer) {
				t.Fatalf("invitation calendar %+v", ev)
			}
			checkWithPython(t, inviteMail)

			raw := realReply(t, c.fixture, c.uid, env.event.APID, c.oldTo, ev.Organizer)
			out, err := env.recv.Receive(ctx, bytes.NewReader(raw))
			if err != nil || out.Ignored != "" || out.Answer != bridges.AnswerAccepted {
				t.Fatalf("Receive = %+v, %v", out, err)
			}
			if len(env.joins.joins) != 1 {
				t.Fatalf("joins %q", env.joins.joins)
			}
			// The same mail again changes nothing.
			if out, err := env.recv.Receive(ctx, bytes.NewReader(raw)); err != nil || out.Ignored == "" {
				t.Errorf("replay: %+v %v", out, err)
			}
			// The home server accepts: "you're in", with the calendar updated.
			err = env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
				return env.rsvp.JoinAnswered(ctx, tx, env.joins.joins[0], bridges.JoinAccepted)
			})
			if err != nil {
				t.Fatal(err)
			}
			msgs := env.smtp.Wait(t, 2, 20*time.Second)
			conf, err := Parse(bytes.NewReader(msgs[1]), 0)
			if err != nil || len(conf.Calendars) != 1 {
				t.Fatalf("confirmation: %v", err)
			}
			if a := conf.Calendars[0].Events[0].Attendees; len(a) != 1 || a[0].PartStat != "ACCEPTED" {
				t.Errorf("confirmation attendee %+v", a)
			}
			if !strings.Contains(conf.Text, "You're in") || !bytes.Contains(msgs[1], []byte("In-Reply-To: <"+in.MessageID+">")) {
				t.Errorf("confirmation is not the threaded you're-in mail:\n%s", msgs[1])
			}
		})
	}
}

func TestFlowRefusedForGood(t *testing.T) {
	ctx := context.Background()
	env := newFlow(t, bridges.JoinFree)
	ids, err := env.rsvp.Invite(ctx, "reject-me@example.net", []int64{env.event.ID})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		var log []store.MailLogEntry
		_ = env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			log, err = tx.MailLog(ctx, ids[0])
			return err
		})
		if len(log) == 1 && log[0].Status == "failed" && strings.Contains(log[0].Detail, "550") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail log %+v, want one failed send with the 550", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(env.smtp.Messages(t)); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

// checkWithPython reads the mail with Python's email package and the
// calendar with python3-icalendar, as a second opinion from independent
// parsers.
func checkWithPython(t *testing.T, raw []byte) {
	t.Helper()
	inv := calparsers.PythonInvitation(t, raw)
	if inv.OrganizerCN != "Les Répar'acteurs, Lyon" {
		t.Errorf("Python reads the organizer's CN as %q", inv.OrganizerCN)
	}
	if inv.Subject != "Invitation: Répar'café" {
		t.Errorf("Python reads the subject as %q", inv.Subject)
	}
}

// An update to more invitees than one transaction tells goes out in
// chunks (bridges.FanoutJob, run by River like every job): each invitee
// gets it once, the one who declined does not.
func TestFlowUpdateReachesEveryInvitee(t *testing.T) {
	ctx := context.Background()
	env := newFlow(t, bridges.JoinFree)
	const invitees = 430 // three chunks
	now := time.Now()
	err := env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		for i := range invitees {
			p := &bridges.Participant{Address: fmt.Sprintf("p%03d@example.net", i), CalendarToken: NewToken(), CreatedAt: now}
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			state := bridges.StateInvited
			if i == 250 {
				state = bridges.StateDeclined
			}
			if err := tx.SaveInvitation(ctx, &bridges.Invitation{ParticipantID: p.ID, EventID: env.event.ID, State: state, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := *env.event
	ev.Title, ev.Sequence, ev.ModifiedAt = "Répar'café (nouvelle salle)", ev.Sequence+1, time.Now()
	if err := env.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.SaveEvent(ctx, &ev); err != nil {
			return err
		}
		return env.rsvp.EventChanged(ctx, tx, bridges.Change{Kind: bridges.ChangeUpdated, Event: &ev, Previous: env.event})
	}); err != nil {
		t.Fatal(err)
	}
	env.smtp.Wait(t, invitees-1, 2*time.Minute)
	time.Sleep(time.Second) // a mail sent twice would be here by now
	got := map[string]int{}
	for _, m := range env.smtp.Messages(t) {
		to := regexp.MustCompile(`(?m)^X-Envelope-To: (.*?)\r?$`).FindSubmatch(m)
		if to == nil || !bytes.Contains(m, []byte("nouvelle salle")) {
			t.Fatalf("not an update to an invitee:\n%s", m)
		}
		got[string(to[1])]++
	}
	for i := range invitees {
		addr, want := fmt.Sprintf("p%03d@example.net", i), 1
		if i == 250 {
			want = 0
		}
		if got[addr] != want {
			t.Errorf("%s got %d updates, want %d", addr, got[addr], want)
		}
	}
}
