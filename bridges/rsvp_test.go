package bridges

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// memRSVP is an in-memory store and transaction for the flow's unit tests; the real
// one (package store) is tested against SQLite and PostgreSQL.
type memRSVP struct {
	events       map[int64]*StoredEvent
	participants []*Participant
	invitations  []*Invitation
	tokens       map[string]int64
	messages     map[string]int64
	seen         map[string]bool
	jobs         []Job
	// passwordGen is each participant's calendar password generation.
	passwordGen map[int64]int64
}

func newMem() *memRSVP {
	return &memRSVP{events: map[int64]*StoredEvent{}, tokens: map[string]int64{}, messages: map[string]int64{}, seen: map[string]bool{}}
}

func (m *memRSVP) CalendarPasswordGen(_ context.Context, id int64, _ func(int64) string) (int64, error) {
	if m.passwordGen == nil {
		m.passwordGen = map[int64]int64{}
	}
	if m.passwordGen[id] == 0 {
		m.passwordGen[id] = 1
	}
	return m.passwordGen[id], nil
}

func (m *memRSVP) RotateCalendarPassword(ctx context.Context, id int64, hashOf func(int64) string) (int64, error) {
	gen, _ := m.CalendarPasswordGen(ctx, id, hashOf)
	m.passwordGen[id] = gen + 1
	return gen + 1, nil
}

func (m *memRSVP) RotateCalendarToken(_ context.Context, id int64, token string) error {
	for _, p := range m.participants {
		if p.ID == id {
			p.CalendarToken = token
			return nil
		}
	}
	return ErrNotFound
}
func (m *memRSVP) InTx(ctx context.Context, fn func(context.Context, *memRSVP) error) error {
	return fn(ctx, m)
}
func (m *memRSVP) EventByAPID(_ context.Context, apID string) (*StoredEvent, error) {
	for _, e := range m.events {
		if e.APID == apID {
			return e, nil
		}
	}
	return nil, ErrNotFound
}
func (m *memRSVP) SaveEvent(_ context.Context, ev *StoredEvent) error {
	m.events[ev.ID] = ev
	return nil
}
func (m *memRSVP) Enqueue(_ context.Context, job Job, _ JobOpts) error {
	m.jobs = append(m.jobs, job)
	return nil
}
func (m *memRSVP) EventByID(_ context.Context, id int64) (*StoredEvent, error) {
	if e, ok := m.events[id]; ok {
		return e, nil
	}
	return nil, ErrNotFound
}
func (m *memRSVP) ParticipantByAddress(_ context.Context, a string) (*Participant, error) {
	for _, p := range m.participants {
		if strings.EqualFold(p.Address, a) {
			return p, nil
		}
	}
	return nil, ErrNotFound
}
func (m *memRSVP) ParticipantByFediverse(_ context.Context, uri string) (*Participant, error) {
	for _, p := range m.participants {
		if p.Fediverse != "" && p.Fediverse == uri {
			return p, nil
		}
	}
	return nil, ErrNotFound
}
func (m *memRSVP) ParticipantByID(_ context.Context, id int64) (*Participant, error) {
	for _, p := range m.participants {
		if p.ID == id {
			return p, nil
		}
	}
	return nil, ErrNotFound
}
func (m *memRSVP) SaveParticipant(_ context.Context, p *Participant) error {
	if p.ID == 0 {
		p.ID = int64(len(m.participants) + 1)
		m.participants = append(m.participants, p)
	}
	return nil
}
func (m *memRSVP) inv(match func(*Invitation) bool) (*Invitation, error) {
	for _, i := range m.invitations {
		if match(i) {
			return i, nil
		}
	}
	return nil, ErrNotFound
}
func (m *memRSVP) InvitationByTokenHash(_ context.Context, h string) (*Invitation, error) {
	id, ok := m.tokens[h]
	if !ok {
		return nil, ErrNotFound
	}
	return m.inv(func(i *Invitation) bool { return i.ID == id })
}
func (m *memRSVP) InvitationByMessageID(_ context.Context, mid string) (*Invitation, error) {
	id, ok := m.messages[mid]
	if !ok {
		return nil, ErrNotFound
	}
	return m.inv(func(i *Invitation) bool { return i.ID == id })
}
func (m *memRSVP) InvitationByJoinID(_ context.Context, j string) (*Invitation, error) {
	return m.inv(func(i *Invitation) bool { return i.JoinID == j })
}
func (m *memRSVP) InvitationByID(_ context.Context, id int64) (*Invitation, error) {
	return m.inv(func(i *Invitation) bool { return i.ID == id })
}
func (m *memRSVP) InvitationFor(_ context.Context, pid, eid int64) (*Invitation, error) {
	return m.inv(func(i *Invitation) bool { return i.ParticipantID == pid && i.EventID == eid })
}
func (m *memRSVP) InvitationsOfEvent(_ context.Context, eid, after int64, limit int) ([]*Invitation, error) {
	var out []*Invitation
	for _, i := range m.invitations {
		if i.EventID == eid && i.ID > after && (limit == 0 || len(out) < limit) {
			out = append(out, i)
		}
	}
	return out, nil
}
func (m *memRSVP) SaveInvitation(_ context.Context, inv *Invitation) error {
	if inv.ID == 0 {
		inv.ID = int64(len(m.invitations) + 1)
		m.invitations = append(m.invitations, inv)
	}
	return nil
}
func (m *memRSVP) FirstSeen(_ context.Context, id string) (bool, error) {
	if m.seen[id] {
		return false, nil
	}
	m.seen[id] = true
	return true, nil
}

// This store keeps no subscriptions: the subscription flow is tested
// against the real store (mail and cmd/passerelle tests).
func (m *memRSVP) SourceBySlug(context.Context, string) (*Source, error) { return nil, ErrNotFound }
func (m *memRSVP) UpcomingPublicEvents(context.Context, int64, time.Time) ([]int64, error) {
	return nil, nil
}
func (m *memRSVP) Subscribe(context.Context, int64, int64) error          { return nil }
func (m *memRSVP) SubscribersOf(context.Context, int64) ([]string, error) { return nil, nil }
func (m *memRSVP) InvitationsOfParticipant(_ context.Context, pid int64) ([]*Invitation, error) {
	var out []*Invitation
	for _, i := range m.invitations {
		if i.ParticipantID == pid {
			out = append(out, i)
		}
	}
	return out, nil
}
func (m *memRSVP) DeleteParticipant(_ context.Context, id int64) error {
	m.participants = slices.DeleteFunc(m.participants, func(p *Participant) bool { return p.ID == id })
	return nil
}

type recorder struct {
	calls []string
	mem   *memRSVP
}

func (r *recorder) Join(_ context.Context, _ *memRSVP, p *Participant, ev *StoredEvent) (string, error) {
	if p.ActorID == 0 {
		p.ActorID = 100 + p.ID
	}
	id := fmt.Sprintf("https://passerelle.test/joins/%d-%d", p.ID, len(r.calls))
	r.calls = append(r.calls, "join "+ev.APID)
	return id, nil
}
func (r *recorder) Leave(_ context.Context, _ *memRSVP, _ *Participant, ev *StoredEvent, joinID string) error {
	r.calls = append(r.calls, "leave "+ev.APID)
	return nil
}
func (r *recorder) Notify(_ context.Context, _ Tx, inv *Invitation, n Notice) error {
	// What the mail worker does: a token per mail, a Message-ID per mail.
	tok := fmt.Sprintf("tok-%d-%d", inv.ID, len(r.calls))
	r.mem.tokens[HashToken(tok)] = inv.ID
	r.mem.messages[fmt.Sprintf("msg-%d-%d@passerelle.test", inv.ID, len(r.calls))] = inv.ID
	r.calls = append(r.calls, "mail "+string(n)+" "+tok)
	return nil
}

func (r *recorder) take() []string {
	c := r.calls
	r.calls = nil
	return c
}

var t0 = time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T, mode JoinMode, remaining *int) (*RSVP[*memRSVP], *memRSVP, *recorder, int64) {
	t.Helper()
	mem := newMem()
	mem.events[1] = &StoredEvent{Event: Event{ID: 1, APID: "https://mobilizon.test/events/1", Title: "Apéro",
		Start: t0.Add(7 * 24 * time.Hour), Status: StatusConfirmed, JoinMode: mode, RemainingCapacity: remaining}}
	rec := &recorder{mem: mem}
	r := &RSVP[*memRSVP]{Store: mem, Participator: rec, Mailer: rec, Now: func() time.Time { return t0 }}
	ids, err := r.Invite(context.Background(), "Jane@Example.net", []int64{1})
	if err != nil || len(ids) != 1 {
		t.Fatalf("Invite = %v, %v", ids, err)
	}
	if c := rec.take(); len(c) != 1 || !strings.HasPrefix(c[0], "mail invitation ") {
		t.Fatalf("invite calls %q", c)
	}
	return r, mem, rec, ids[0]
}

func reply(id string, a Answer, from string) Reply {
	return Reply{MessageID: id, From: from, Tokens: []string{"tok-1-0"},
		Calendar: []CalendarAnswer{{UID: "https://mobilizon.test/events/1", Attendee: from, Answer: a}}}
}

func TestRSVPFreeEvent(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, id := setup(t, JoinFree, nil)
	out, err := r.HandleReply(ctx, reply("m1", AnswerAccepted, "jane@example.net"))
	if err != nil || out.Ignored != "" || out.Answer != AnswerAccepted {
		t.Fatalf("HandleReply = %+v, %v", out, err)
	}
	if c := rec.take(); !slices.Equal(c, []string{"join https://mobilizon.test/events/1"}) {
		t.Errorf("calls %q, want the Join only: no mail until the server answers", c)
	}
	inv := mem.invitations[0]
	if inv.State != StateJoining || inv.JoinID == "" || mem.participants[0].ActorID == 0 {
		t.Errorf("invitation %+v participant %+v", inv, mem.participants[0])
	}
	if len(mem.jobs) != 1 || mem.jobs[0].(ConfirmCheckJob).InvitationID != id {
		t.Errorf("jobs %+v, want one confirmation check", mem.jobs)
	}
	// The same mail again (an IMAP re-fetch, an MTA retry): nothing.
	if out, _ := r.HandleReply(ctx, reply("m1", AnswerAccepted, "jane@example.net")); out.Ignored == "" {
		t.Error("replayed mail was applied")
	}
	// A second yes in a new mail: nothing new either.
	if _, err := r.HandleReply(ctx, reply("m2", AnswerAccepted, "jane@example.net")); err != nil || len(rec.take()) != 0 {
		t.Errorf("second yes acted (%v)", err)
	}
	// No Accept within the wait: told it was delivered, not confirmed.
	if err := r.CheckConfirmation(ctx, mem.jobs[0].(ConfirmCheckJob)); err != nil {
		t.Fatal(err)
	}
	if c := rec.take(); len(c) != 1 || !strings.HasPrefix(c[0], "mail unconfirmed") {
		t.Errorf("after the wait: %q", c)
	}
	// A late Accept still confirms, once.
	for range 2 {
		if err := r.JoinAnswered(ctx, mem, inv.JoinID, JoinAccepted); err != nil {
			t.Fatal(err)
		}
	}
	if c := rec.take(); len(c) != 1 || !strings.HasPrefix(c[0], "mail joined") {
		t.Errorf("after Accept: %q, want one joined mail", c)
	}
	// Decline after joining: Leave and a confirmation.
	if _, err := r.HandleReply(ctx, reply("m3", AnswerDeclined, "jane@example.net")); err != nil {
		t.Fatal(err)
	}
	if c := rec.take(); len(c) != 2 || c[0] != "leave https://mobilizon.test/events/1" || !strings.HasPrefix(c[1], "mail left") {
		t.Errorf("decline after join: %q", c)
	}
	if inv.State != StateLeft {
		t.Errorf("state %s", inv.State)
	}
	// A late Accept of the Join we left changes nothing.
	if err := r.JoinAnswered(ctx, mem, inv.JoinID, JoinAccepted); err != nil || len(rec.take()) != 0 || inv.State != StateLeft {
		t.Errorf("Accept after Leave acted: %v %s", err, inv.State)
	}
}

func TestRSVPModes(t *testing.T) {
	zero, some := 0, 3
	tests := []struct {
		name      string
		mode      JoinMode
		remaining *int
		answer    Answer
		calls     []string
		state     ParticipationState
	}{
		{"restricted", JoinRestricted, &some, AnswerAccepted, []string{"join", "mail pending"}, StatePending},
		{"full", JoinFree, &zero, AnswerAccepted, []string{"mail full"}, StateFull},
		{"external", JoinExternal, nil, AnswerAccepted, []string{"mail external"}, StateExternal},
		{"maybe", JoinFree, nil, AnswerTentative, []string{"mail maybe"}, StateTentative},
		{"no before joining", JoinFree, nil, AnswerDeclined, nil, StateDeclined},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, mem, rec, _ := setup(t, tt.mode, tt.remaining)
			if _, err := r.HandleReply(context.Background(), reply("m", tt.answer, "jane@example.net")); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range rec.take() {
				f := strings.Fields(c)
				if f[0] == "mail" {
					got = append(got, "mail "+f[1])
				} else {
					got = append(got, f[0])
				}
			}
			if !slices.Equal(got, tt.calls) {
				t.Errorf("calls %q, want %q", got, tt.calls)
			}
			if mem.invitations[0].State != tt.state {
				t.Errorf("state %s, want %s", mem.invitations[0].State, tt.state)
			}
		})
	}
}

func TestRSVPRestrictedDecision(t *testing.T) {
	ctx := context.Background()
	some := 3
	r, mem, rec, _ := setup(t, JoinRestricted, &some)
	if _, err := r.HandleReply(ctx, reply("m", AnswerAccepted, "jane@example.net")); err != nil {
		t.Fatal(err)
	}
	rec.take()
	inv := mem.invitations[0]
	if err := r.JoinAnswered(ctx, mem, inv.JoinID, JoinRejected); err != nil {
		t.Fatal(err)
	}
	if c := rec.take(); len(c) != 1 || !strings.HasPrefix(c[0], "mail rejected") || inv.State != StateRejected {
		t.Errorf("Reject: %q %s", c, inv.State)
	}
	// Mobilizon lets a moderator change their mind.
	if err := r.JoinAnswered(ctx, mem, inv.JoinID, JoinAccepted); err != nil {
		t.Fatal(err)
	}
	if c := rec.take(); len(c) != 1 || !strings.HasPrefix(c[0], "mail joined") {
		t.Errorf("Accept after Reject: %q", c)
	}
}

func TestRSVPIgnores(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		reply Reply
		why   string
	}{
		{"wrong token", Reply{MessageID: "a", From: "jane@example.net", Tokens: []string{"forged"}, Text: AnswerAccepted}, "token"},
		{"no token", Reply{MessageID: "b", From: "jane@example.net", Text: AnswerAccepted}, "token"},
		{"other sender, text", Reply{MessageID: "c", From: "mallory@example.net", Tokens: []string{"tok-1-0"}, Text: AnswerAccepted}, "not invited"},
		{"other sender, calendar", reply("d", AnswerAccepted, "mallory@example.net"), "not invited"},
		{"unknown UID", Reply{MessageID: "e", From: "jane@example.net", Tokens: []string{"tok-1-0"},
			Calendar: []CalendarAnswer{{UID: "other-uid", Attendee: "jane@example.net", Answer: AnswerAccepted}}}, "UID"},
		{"nothing said", Reply{MessageID: "f", From: "jane@example.net", Tokens: []string{"tok-1-0"}}, "no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, mem, rec, _ := setup(t, JoinFree, nil)
			out, err := r.HandleReply(ctx, tt.reply)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.Ignored, tt.why) {
				t.Errorf("Ignored = %q, want it to mention %q", out.Ignored, tt.why)
			}
			if c := rec.take(); len(c) != 0 || mem.invitations[0].State != StateInvited {
				t.Errorf("ignored reply acted: %q, state %s", c, mem.invitations[0].State)
			}
		})
	}
}

func TestRSVPThreadedReplyAndSenderMatch(t *testing.T) {
	// A client that dropped the plus-address still threads; BlueMind writes
	// the attendee under another domain than the (invited) sender.
	r, mem, rec, _ := setup(t, JoinFree, nil)
	out, err := r.HandleReply(context.Background(), Reply{MessageID: "x", From: "JANE@example.net", References: []string{"msg-1-0@passerelle.test"},
		Calendar: []CalendarAnswer{{UID: "https://mobilizon.test/events/1", Attendee: "jane@example.org", Answer: AnswerTentative}}})
	if err != nil || out.Ignored != "" {
		t.Fatalf("%+v %v", out, err)
	}
	if mem.invitations[0].State != StateTentative || len(rec.take()) != 1 {
		t.Errorf("state %s", mem.invitations[0].State)
	}
}

// An update to more invitees than one transaction tells goes out a chunk
// at a time: the change tells the first fanoutChunk and enqueues a
// FanoutJob for each further chunk; everyone is told once, except those
// who declined and those invited after the change.
func TestRSVPFanoutInChunks(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, _ := setup(t, JoinFree, nil)
	const invitees = 2*fanoutChunk + 37
	for i := 1; i < invitees; i++ {
		p := &Participant{Address: fmt.Sprintf("p%d@example.net", i)}
		mem.SaveParticipant(ctx, p)
		mem.SaveInvitation(ctx, &Invitation{ParticipantID: p.ID, EventID: 1, State: StateInvited, CreatedAt: t0})
	}
	mem.invitations[5].State = StateDeclined
	mem.invitations[fanoutChunk+3].State = StateLeft
	mem.jobs = nil
	if err := r.EventChanged(ctx, mem, Change{Kind: ChangeUpdated, Event: mem.events[1]}); err != nil {
		t.Fatal(err)
	}
	told := map[int64]int{}
	count := func() {
		for _, c := range rec.take() {
			var id, n int
			if _, err := fmt.Sscanf(c, "mail update tok-%d-%d", &id, &n); err != nil {
				t.Fatalf("call %q", c)
			}
			told[int64(id)]++
		}
	}
	count()
	if len(told) != fanoutChunk-1 || len(mem.jobs) != 2 {
		t.Fatalf("the change told %d and enqueued %d jobs, want %d and 2", len(told), len(mem.jobs), fanoutChunk-1)
	}
	// Invited after the change: the invitation carried the new version.
	late := &Participant{Address: "late@example.net"}
	mem.SaveParticipant(ctx, late)
	mem.SaveInvitation(ctx, &Invitation{ParticipantID: late.ID, EventID: 1, State: StateInvited, CreatedAt: t0.Add(time.Minute)})
	// The jobs run in any order, the last one first here.
	for i := len(mem.jobs) - 1; i >= 0; i-- {
		job := mem.jobs[i].(FanoutJob)
		if job.EventID != 1 || job.Notice != NoticeUpdate || !job.Until.Equal(t0) || job.Through <= job.After {
			t.Fatalf("job %+v", job)
		}
		if err := r.Fanout(ctx, job); err != nil {
			t.Fatal(err)
		}
		count()
	}
	for _, inv := range mem.invitations {
		want := 1
		if inv.State == StateDeclined || inv.State == StateLeft || inv.ParticipantID == late.ID {
			want = 0
		}
		if told[inv.ID] != want {
			t.Errorf("invitation %d (%s) told %d times, want %d", inv.ID, inv.State, told[inv.ID], want)
		}
	}
}

func TestRSVPEventChanges(t *testing.T) {
	ctx := context.Background()
	r, mem, rec, _ := setup(t, JoinFree, nil)
	if _, err := r.Invite(ctx, "bob@example.net", []int64{1}); err != nil {
		t.Fatal(err)
	}
	rec.take()
	mem.invitations[1].State = StateDeclined
	ev := mem.events[1]
	for kind, want := range map[ChangeKind]string{ChangeUpdated: "mail update", ChangeCancelled: "mail cancel", ChangeMinor: ""} {
		if err := r.EventChanged(ctx, mem, Change{Kind: kind, Event: ev}); err != nil {
			t.Fatal(err)
		}
		c := rec.take()
		if want == "" && len(c) != 0 || want != "" && (len(c) != 1 || !strings.HasPrefix(c[0], want+" tok-1-")) {
			t.Errorf("%s: %q, want one %q to the invitee who did not decline", kind, c, want)
		}
	}
	// Unsubscribed addresses cannot be invited again.
	mem.participants[0].Unsubscribed = true
	if _, err := r.Invite(ctx, "jane@example.net", []int64{1}); err != ErrUnsubscribed {
		t.Errorf("invite unsubscribed: %v", err)
	}
}
