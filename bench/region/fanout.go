package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	netmail "net/mail"
	"os"
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
// passerelle takes to queue a mail per invitee and to send them all to an
// SMTP sink, and counts what the sink got twice.

// sink is an SMTP server that counts the mails it receives by Message-ID.
type sink struct {
	mu   sync.Mutex
	seen map[string]int
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct{ s *sink }

func (x *sinkSession) Reset()                               {}
func (x *sinkSession) Logout() error                        { return nil }
func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	m, err := netmail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, m.Body)
	x.s.mu.Lock()
	x.s.seen[m.Header.Get("Message-Id")]++
	x.s.mu.Unlock()
	return nil
}

func (s *sink) counts() (mails, twice int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		mails += n
		if n > 1 {
			twice++
		}
	}
	return mails, twice
}

type fanoutResult struct {
	backend      string
	invitees     int
	queued, sent time.Duration
	mails, twice int
}

func runFanout(ctx context.Context, bin string, peers []*peer, backend, pgURL string, invitees int) (fanoutResult, error) {
	res := fanoutResult{backend: backend, invitees: invitees}
	inst, err := newInstance(ctx, backend, pgURL)
	if err != nil {
		return res, err
	}
	defer inst.close()
	db := inst.db
	g := peers[0].groups[0]
	src := &bridges.Source{Slug: "fanout", ActorURL: g.actor, Software: "generic", State: bridges.SourceFollowed, CreatedAt: time.Now()}
	if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveSource(ctx, src) }); err != nil {
		return res, err
	}
	sk := &sink{seen: map[string]int{}}
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	ssrv := smtp.NewServer(sk)
	ssrv.Domain = "sink.test"
	go ssrv.Serve(sln)
	defer ssrv.Close()

	public := "http://" + freeAddr("127.0.0.1")
	addr := freeAddr("127.0.0.1")
	cmd, err := startServe(bin, inst.dir, append(os.Environ(), "PASSERELLE_DATABASE_URL="+inst.dbURL, "PASSERELLE_PUBLIC_URL="+public,
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true", "PASSERELLE_LOG_LEVEL=warn", "PASSERELLE_DATA_DIR="+inst.dir,
		"PASSERELLE_MAIL_FROM=Passerelle <events@passerelle.test>", "PASSERELLE_MAIL_SMTP=smtp://"+sln.Addr().String(),
		"PASSERELLE_MAIL_SEND_INTERVAL=0s"), addr)
	if cmd != nil {
		defer stopServe(cmd)
	}
	if err != nil {
		return res, err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	// The event, then its invitees (stored directly: how they were
	// invited is not what is measured).
	if !create(client, g, public, addr, 0) {
		return res, fmt.Errorf("fan-out: the Create was refused")
	}
	var ev *bridges.StoredEvent
	for deadline := time.Now().Add(time.Minute); ev == nil; {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("fan-out: the event was not stored")
		}
		evs, err := db.Events(ctx, store.EventQuery{SourceID: src.ID})
		if err == nil && len(evs) == 1 {
			ev = evs[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	err = db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		now := time.Now()
		for i := range invitees {
			p := &bridges.Participant{Address: fmt.Sprintf("person%d@example.net", i), CreatedAt: now}
			if err := tx.SaveParticipant(ctx, p); err != nil {
				return err
			}
			if err := tx.SaveInvitation(ctx, &bridges.Invitation{ParticipantID: p.ID, EventID: ev.ID, State: bridges.StateInvited, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	// The Update: a new name.
	t0 := time.Now()
	if !update(client, g, public, addr, 0) {
		return res, fmt.Errorf("fan-out: the Update was refused")
	}
	deadline := t0.Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		q, err := db.QueueOf(ctx, mail.SendJob{}.Kind())
		sent, _ := sk.counts()
		if err == nil && res.queued == 0 && q.Waiting+sent >= invitees {
			res.queued = time.Since(t0)
		}
		if sent >= invitees {
			res.sent = time.Since(t0)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.mails, res.twice = sk.counts()
	return res, nil
}

// update sends an Update of event n with a new name, signed by g.
func update(client *http.Client, g *group, public, addr string, n int) bool {
	return send(client, g, public, addr, n, "Update", "Atelier (nouvelle salle)", time.Now())
}

func printFanout(rs []fanoutResult) {
	if len(rs) == 0 {
		return
	}
	fmt.Println("\n| fan-out run | invitees | all mails queued | all mails sent (send_interval 0) | mails | twice |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rs {
		q := "not within 5 min"
		if r.queued > 0 {
			q = r.queued.Round(10 * time.Millisecond).String()
		}
		s := "not within 5 min"
		if r.sent > 0 {
			s = r.sent.Round(10 * time.Millisecond).String()
		}
		fmt.Printf("| %s | %d | %s | %s | %d | %d |\n", r.backend, r.invitees, q, s, r.mails, r.twice)
	}
}
