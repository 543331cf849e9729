package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/mail"
	"codeberg.org/passerelle/passerelle/store"
)

// The fan-out of one event's Update to its invitees (issue 20's "5,000
// invitees composed and queued in ≤ 10 s"): the event is invited to n
// participants, the group sends an Update, and the harness times how long
// passerelle takes to queue a mail per invitee and how long each took to
// reach an SMTP sink, and how long the new SEQUENCE took to show in one
// invitee's personal feed. Meanwhile some invitees answer the Update by
// mail, as Gmail's Accept button or as a plain "yes", piped to `passerelle
// mail receive` as an MTA would: the harness times each until the remote
// host got the participant's signed Join, which it answers with an Accept,
// and counts the Joins lost or sent twice.

// sink is an SMTP server that records every mail it receives.
type sink struct {
	addr string
	srv  *smtp.Server
	mu   sync.Mutex
	got  []sunkMail
	// onMail, when set, is told of each mail as it arrives.
	onMail func(sunkMail)
}

// sunkMail is what the harness reads of one mail: its envelope recipient,
// Message-ID, and the first event of its iTIP calendar (the reply address
// with its token is the ORGANIZER; the invitee's PARTSTAT tells an update,
// NEEDS-ACTION, from a "you're in", ACCEPTED).
type sunkMail struct {
	at                   time.Time
	rcpt, messageID      string
	uid, organizer, part string
	sequence             int
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: ln.Addr().String()}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "sink.test"
	go s.srv.Serve(ln)
	return s, nil
}

func (s *sink) close() { s.srv.Close() }

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct {
	s    *sink
	rcpt string
}

func (x *sinkSession) Reset()                               { x.rcpt = "" }
func (x *sinkSession) Logout() error                        { return nil }
func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.rcpt = to
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	in, err := mail.Parse(r, 0)
	if err != nil {
		return err
	}
	m := sunkMail{at: time.Now(), rcpt: x.rcpt, messageID: in.MessageID}
	if len(in.Calendars) > 0 && len(in.Calendars[0].Events) > 0 {
		ev := in.Calendars[0].Events[0]
		m.uid, m.organizer, m.sequence = ev.UID, ev.Organizer, ev.Sequence
		if len(ev.Attendees) > 0 {
			m.part = ev.Attendees[0].PartStat
		}
	}
	x.s.mu.Lock()
	x.s.got = append(x.s.got, m)
	hook := x.s.onMail
	x.s.mu.Unlock()
	if hook != nil {
		hook(m)
	}
	return nil
}

// mails is a copy of what the sink received so far.
func (s *sink) mails() []sunkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunkMail(nil), s.got...)
}

type fanoutResult struct {
	invitees, answering int
	participantsBytes   int64
	// The fan-out: until a mail per invitee was queued, until the sink had
	// them all, each update mail's lag from the Update's 202, and the lag
	// until the new SEQUENCE showed in an invitee's personal feed.
	queued, sent      time.Duration
	mails, twice      int
	mailP50, mailP99  time.Duration
	feedLag           time.Duration
	updates, updTwice int
	// The RSVPs: reply piped → Join at the remote host.
	joins, joinsLost, joinsTwice int
	rsvpP50, rsvpP99             time.Duration
	confirmed                    int // "you're in" mails after the Accept
	receiveFailed                int // `mail receive` exits other than 0
	unsigned                     int // Joins whose signature did not verify
	rsvpCPU                      cpuUse
	receiveCPU                   time.Duration // the `mail receive` processes'
}

func (b *bench) fanoutPhase(ctx context.Context, joins *joinBook) (fanoutResult, error) {
	cfg, db := b.cfg, b.inst.db
	res := fanoutResult{invitees: cfg.fanout}
	g := b.groups[0]
	// The event is the burst's event 0, which groups[0] sent.
	ev, err := db.EventByAPID(ctx, fmt.Sprintf("%s/events/%d", g.actor, 0))
	if err != nil {
		return res, fmt.Errorf("fan-out: the burst's event 0: %w", err)
	}
	// Its invitees, stored directly: how they were invited is not what is
	// measured. Invitee 0 is the subscriber whose personal feed is polled.
	feedToken := bridges.NewToken()
	size0 := b.inst.size()
	err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		now := time.Now()
		for i := range cfg.fanout {
			p := &bridges.Participant{Address: invitee(i), CreatedAt: now}
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			if err := tx.SaveInvitation(ctx, &bridges.Invitation{ParticipantID: p.ID, EventID: ev.ID, State: bridges.StateInvited, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			if i == 0 {
				if err := tx.RotateCalendarToken(ctx, p.ID, feedToken); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.participantsBytes = b.inst.size() - size0
	feed := "http://" + b.addrs[0] + "/feeds/personal/" + feedToken + ".ics"
	seq0, err := feedSequence(b.client, feed)
	if err != nil {
		return res, fmt.Errorf("fan-out: invitee 0's personal feed: %w", err)
	}

	// Every step-th invitee answers the update mail as soon as it arrives.
	step := 0
	if cfg.rsvp > 0 {
		step = cfg.fanout / cfg.rsvp
	}
	var (
		mu         sync.Mutex
		repliedAt  = map[string]time.Time{}
		firstReply sync.Once
		cpu0       cpuUse
		replies    sync.WaitGroup
		slots      = make(chan struct{}, 8) // an MTA's concurrent deliveries
	)
	fixture, err := os.ReadFile("mail/testdata/imip/gmail-reply-accepted.eml")
	if err != nil {
		return res, err
	}
	answering := map[string]int{}
	for i := 0; step > 0 && i < cfg.fanout && len(answering) < cfg.rsvp; i += step {
		answering[invitee(i)] = i
	}
	res.answering = len(answering)
	b.sink.mu.Lock()
	b.sink.onMail = func(m sunkMail) {
		i, ok := answering[m.rcpt]
		if !ok || m.part == "ACCEPTED" || m.sequence <= seq0 {
			return
		}
		mu.Lock()
		_, done := repliedAt[m.rcpt]
		if !done {
			repliedAt[m.rcpt] = time.Time{}
		}
		mu.Unlock()
		if done {
			return
		}
		replies.Add(1)
		go func() {
			defer replies.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			firstReply.Do(func() {
				c := b.cpu()
				mu.Lock()
				cpu0 = c
				mu.Unlock()
			})
			raw := replyMail(fixture, i/step%2 == 0, m)
			mu.Lock()
			repliedAt[m.rcpt] = time.Now()
			mu.Unlock()
			cmd := exec.Command(b.bin, "mail", "receive")
			cmd.Dir, cmd.Env, cmd.Stdin = b.inst.dir, b.env, bytes.NewReader(raw)
			err := cmd.Run()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.receiveFailed++
			}
			if cmd.ProcessState != nil {
				res.receiveCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
		}()
	}
	b.sink.mu.Unlock()
	defer func() {
		b.sink.mu.Lock()
		b.sink.onMail = nil
		b.sink.mu.Unlock()
		replies.Wait()
	}()

	// The Update: a new name. Lags count from its 202.
	if !update(b.client, g, b.public, b.addrs[0], 0) {
		return res, fmt.Errorf("fan-out: the Update was refused")
	}
	t0 := time.Now()
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		for time.Since(t0) < storeWait {
			if s, err := feedSequence(b.client, feed); err == nil && s > seq0 {
				res.feedLag = time.Since(t0)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	rsvpDone := res.answering == 0
	for deadline := t0.Add(storeWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ms := b.sink.mails()
		updates, confirmed := 0, 0
		for _, m := range ms {
			if m.uid == ev.APID && m.sequence > seq0 {
				if m.part == "ACCEPTED" {
					confirmed++
				} else {
					updates++
				}
			}
		}
		if q, err := db.QueueOf(ctx, mail.SendJob{}.Kind()); err == nil && res.queued == 0 && q.Waiting+updates >= cfg.fanout {
			res.queued = time.Since(t0)
		}
		if updates >= cfg.fanout && res.sent == 0 {
			res.sent = time.Since(t0)
		}
		if !rsvpDone && confirmed >= res.answering && joins.count() >= res.answering {
			rsvpDone = true
			mu.Lock()
			c0 := cpu0
			mu.Unlock()
			res.rsvpCPU = b.cpu().since(c0)
		}
		if res.sent > 0 && rsvpDone {
			break
		}
	}
	<-feedDone
	replies.Wait()
	if !rsvpDone && res.answering > 0 {
		res.rsvpCPU = b.cpu().since(cpu0)
	}

	// Mails: each update's lag from the 202; twice by Message-ID, and an
	// invitee updated twice.
	seen, perRcpt := map[string]int{}, map[string]int{}
	var lags []time.Duration
	for _, m := range b.sink.mails() {
		res.mails++
		if seen[m.messageID]++; seen[m.messageID] == 2 {
			res.twice++
		}
		if m.uid != ev.APID || m.sequence <= seq0 {
			continue
		}
		if m.part == "ACCEPTED" {
			res.confirmed++
			continue
		}
		res.updates++
		if perRcpt[m.rcpt]++; perRcpt[m.rcpt] == 2 {
			res.updTwice++
		}
		lags = append(lags, m.at.Sub(t0))
	}
	res.mailP50, res.mailP99 = percentile(lags, 50), percentile(lags, 99)

	// Joins: each received one is the invitation's whose Join id it
	// carries; exactly one per answering invitee.
	perInvitee := map[string]int{}
	var rsvpLat []time.Duration
	for _, j := range joins.all() {
		var addr string
		err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
			inv, err := tx.InvitationByJoinID(ctx, j.id)
			if err != nil {
				return err
			}
			p, err := tx.ParticipantByID(ctx, inv.ParticipantID)
			if err == nil {
				addr = p.Address
			}
			return err
		})
		if err != nil {
			return res, fmt.Errorf("fan-out: Join %s: %w", j.id, err)
		}
		res.joins++
		if perInvitee[addr]++; perInvitee[addr] == 2 {
			res.joinsTwice++
		} else if t := repliedAt[addr]; perInvitee[addr] == 1 && !t.IsZero() {
			rsvpLat = append(rsvpLat, j.at.Sub(t))
		}
	}
	for addr := range answering {
		if perInvitee[addr] == 0 {
			res.joinsLost++
		}
	}
	res.rsvpP50, res.rsvpP99 = percentile(rsvpLat, 50), percentile(rsvpLat, 99)
	res.unsigned = joins.unsigned()
	return res, nil
}

func invitee(i int) string { return fmt.Sprintf("person%d@example.net", i) }

var sequenceRe = regexp.MustCompile(`(?m)^SEQUENCE:(\d+)`)

// feedSequence is the SEQUENCE of the one event in a personal feed.
func feedSequence(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	m := sequenceRe.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("%s: no SEQUENCE", url)
	}
	return strconv.Atoi(string(m[1]))
}

var toRe = regexp.MustCompile(`(?m)^To: .*\r?$`)

// replyMail is an invitee's answer to the update mail m: Gmail's Accept
// (a real Gmail iMIP REPLY from the fixtures, with the event's UID, the
// invitee's address and the tokenised reply address put where Gmail put
// the originals), or a plain "yes" reply to the tokenised address.
func replyMail(gmail []byte, imip bool, m sunkMail) []byte {
	id := fmt.Sprintf("<reply-%d@bench.test>", time.Now().UnixNano())
	if !imip {
		return []byte("From: <" + m.rcpt + ">\r\nTo: <" + m.organizer + ">\r\nSubject: Re: Atelier\r\nMessage-ID: " + id +
			"\r\nIn-Reply-To: <" + m.messageID + ">\r\nDate: " + time.Now().Format(time.RFC1123Z) +
			"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYes, I'll be there.\r\n\r\n> Atelier (nouvelle salle)\r\n")
	}
	b := bytes.ReplaceAll(gmail, []byte("UID:14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15"), []byte("UID:"+m.uid))
	b = bytes.ReplaceAll(b, []byte("tcataldo@gmail.com"), []byte(m.rcpt))
	b = bytes.ReplaceAll(b, []byte("<00504502c30547588004c13c4b33@google.com>"), []byte(id))
	return toRe.ReplaceAllLiteral(b, []byte("To: <"+m.organizer+">\r"))
}

// update sends an Update of event n with a new name, signed by g.
func update(client *http.Client, g *group, public, addr string, n int) bool {
	return send(client, g, public, addr, n, "Update", "Atelier (nouvelle salle)", time.Now())
}
