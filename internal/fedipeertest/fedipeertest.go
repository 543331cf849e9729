// Package fedipeertest starts the Fedify-based ActivityPub peer
// (internal/peers/fedify/peer.mjs, npm @fedify/fedify 1.5.9) for tests: a
// Mobilizon-shaped or Gancio-shaped server that signs and verifies HTTP
// signatures with Fedify's own signRequest/verifyRequest and behaves as
// ../../shared/fixtures/mobilizon/FORMAT.md says Mobilizon 5.1.3 does.
//
// Start it with Start(t, Mobilizon) or Start(t, Gancio); it listens on its
// own loopback address (127.0.0.2, 127.0.0.3, …, so each peer is a
// distinct host) and is stopped by its PID when the test ends. The test
// is skipped when node or the peer's node_modules are missing (failed
// under PASSERELLE_REQUIRE_ALL; `.ci/run` runs `npm ci` in
// internal/peers/fedify). The code under test must allow private networks
// (federation.allow_private_networks) to reach it.
//
// The Mobilizon shape serves:
//   - actors /@mygroup (Group, follows auto-accepted), /@alice (Person,
//     organiser), /@mod (Person, moderator), /@closedgroup (Group whose
//     follows wait for AcceptFollow), /relay (Application, follows wait
//     for an admin: AcceptFollow with Target "relay"); PKCS#1 public keys;
//   - WebFinger (acct:mygroup@HOST …), NodeInfo 2.0 (software mobilizon);
//   - /events/UUID (404 for drafts, 410 + Tombstone after Delete),
//     /@mygroup/outbox (synthetic Creates with `to` as a string, 10 per
//     page, an empty last page) and /@mygroup/events;
//   - inboxes /inbox and /@NAME/inbox: a bad signature gets HTTP 200
//     "error"; a personal inbox answers 500 unless addressed.
//
// Its events go out as Mobilizon sends them: Create/Update from the
// organiser Person (attributedTo the group, Update reusing the Create's
// id), then the group's Announce with the object embedded; Delete of a
// Tombstone from @mod. Joins to free events are auto-accepted by @mod
// (attributedTo the group), Joins to restricted events wait for
// AcceptJoin/RejectJoin, Joins to full events get no answer.
//
// The Gancio shape serves one Application actor /federation/u/relay
// (SPKI key, follows auto-accepted, WebFinger acct:relay@HOST, NodeInfo
// software gancio) whose events (/federation/m/ID, `+02:00`-style
// offsets, no time zone name, location {name}) go out as Create/Update/
// Delete from the relay; a bad signature gets 401.
//
// The PeerTube shape (Start(t, PeerTube)) is a PeerTube 7.3 instance as
// ../../shared/fixtures/peertube/FORMAT.md reads its source: the instance
// actor /accounts/peertube (Application), the account /accounts/root
// (Person) and its channel /video-channels/root_channel (Group), SPKI
// keys, WebFinger for each, NodeInfo 2.0 (software peertube, linked from
// /.well-known/nodeinfo with the instance actor), follows accepted at once
// by the followed actor; videos at /videos/watch/UUID (404 once deleted);
// outboxes with the account's Creates and the channel's and instance
// actor's Announces (object: the video URL), paginated as PeerTube does.
// CreateVideo federates Create{Video} from the account plus Announces by
// the instance actor and the channel; UpdateVideo a full Update{Video}
// from the account; DeleteVideo a Delete of the bare URL from the account;
// each goes to the followers of the actors involved. Its inbox answers 204,
// or 403 to a bad signature.
//
// Every POST the peer received is listed by Received, with whether
// Fedify verified it. Events are served with an ETag and a Last-Modified
// and answer a matching If-None-Match / If-Modified-Since with 304; every
// GET of an event is listed by Fetched.
package fedipeertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/internal/testenv"
)

// Shape is which server the peer imitates.
type Shape string

// The shapes.
const (
	Mobilizon Shape = "mobilizon"
	Gancio    Shape = "gancio"
	PeerTube  Shape = "peertube"
)

// Peer is a running peer.
type Peer struct {
	// URL is its base URL, "http://127.0.0.N:PORT".
	URL   string
	Shape Shape
	cmd   *exec.Cmd
}

var nextHost atomic.Int32

// Dir is the peer's folder (internal/peers/fedify).
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "peers", "fedify")
}

// Start starts a peer of that shape, stopped when the test ends.
func Start(t testing.TB, shape Shape) *Peer {
	t.Helper()
	node := testenv.LookPath(t, "node", "apt-get install nodejs (Node 20)")
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@fedify", "fedify")); err != nil {
		testenv.Missing(t, "the Fedify peer's packages are not installed (run `npm ci` in internal/peers/fedify)")
	}
	host := fmt.Sprintf("127.0.0.%d", 2+nextHost.Add(1)%250)
	cmd := exec.Command(node, "peer.mjs", "--shape", string(shape), "--host", host)
	cmd.Dir = dir
	cmd.Stderr = &prefixWriter{t: t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Fedify peer: %v", err)
	}
	p := &Peer{Shape: shape, cmd: cmd}
	t.Cleanup(p.stop)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
	}()
	// Loading Fedify takes seconds on a busy machine.
	select {
	case p.URL = <-ready:
	case <-time.After(90 * time.Second):
		t.Fatalf("Fedify peer (%s) did not start within 90 s", shape)
	}
	return p
}

func (p *Peer) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

type prefixWriter struct{ t testing.TB }

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.t.Logf("fedify peer: %s", bytes.TrimSpace(b))
	return len(b), nil
}

// Host is the peer's host:port, as in handles.
func (p *Peer) Host() string { return strings.TrimPrefix(p.URL, "http://") }

// ActorURL is the id of one of the peer's actors: "mygroup", "alice",
// "mod", "closedgroup", "relay" (Mobilizon); "relay" (Gancio);
// "root_channel", "root", "peertube" (PeerTube).
func (p *Peer) ActorURL(name string) string {
	if p.Shape == Gancio {
		return p.URL + "/federation/u/" + name
	}
	if p.Shape == PeerTube {
		if name == "root_channel" {
			return p.URL + "/video-channels/" + name
		}
		return p.URL + "/accounts/" + name
	}
	if name == "relay" {
		return p.URL + "/relay"
	}
	return p.URL + "/@" + name
}

// Handle is "@name@host:port".
func (p *Peer) Handle(name string) string { return "@" + name + "@" + p.Host() }

// EventURL is an event's id.
func (p *Peer) EventURL(uuid string) string {
	if p.Shape == Gancio {
		return p.URL + "/federation/m/" + uuid
	}
	return p.URL + "/events/" + uuid
}

func (p *Peer) call(t testing.TB, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, p.URL+"/_control"+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("peer control %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("peer control %s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("peer control %s %s: %v: %s", method, path, err, b)
		}
	}
}

// Event describes an event to create; zero fields get the peer's defaults
// (free join mode, CONFIRMED, no capacity limit). Times are RFC 3339 with
// the offset the event's zone has, as Mobilizon writes them.
type Event struct {
	UUID                    string         `json:"uuid,omitempty"`
	Name                    string         `json:"name"`
	Content                 string         `json:"content,omitempty"`
	StartTime               string         `json:"startTime"`
	EndTime                 string         `json:"endTime,omitempty"`
	Timezone                string         `json:"timezone,omitempty"`
	Status                  string         `json:"status,omitempty"`
	Draft                   bool           `json:"draft,omitempty"`
	JoinMode                string         `json:"joinMode,omitempty"`
	MaximumAttendeeCapacity int            `json:"maximumAttendeeCapacity,omitempty"`
	Participants            int            `json:"participants,omitempty"`
	Location                map[string]any `json:"location,omitempty"`
	// Publishing options: AnnounceOnly sends only the group's Announce,
	// NoAnnounce only the Person's Create, Silent nothing (the event is
	// then only in the outbox and collections, for backfill).
	AnnounceOnly bool `json:"announceOnly,omitempty"`
	NoAnnounce   bool `json:"noAnnounce,omitempty"`
	Silent       bool `json:"silent,omitempty"`
	// QuietJoins makes a free event accept Joins without sending any
	// Accept, as Mobilizon does for a free group event without a local
	// moderator; AcceptJoin still sends one later.
	QuietJoins bool `json:"quietJoins,omitempty"`
}

// Delivery is what one POST of the peer got back.
type Delivery struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// Created is the answer to CreateEvent.
type Created struct {
	UUID       string     `json:"uuid"`
	ID         string     `json:"id"`
	Deliveries []Delivery `json:"deliveries"`
}

// CreateEvent creates an event and federates it to the followers.
func (p *Peer) CreateEvent(t testing.TB, e Event) Created {
	t.Helper()
	var c Created
	p.call(t, "POST", "/events", e, &c)
	return c
}

// UpdateEvent changes fields of an event (JSON names as in Event, e.g.
// "name", "status", "draft", "startTime") and federates an Update.
// Fields "announceOnly"/"noAnnounce" choose what is sent.
func (p *Peer) UpdateEvent(t testing.TB, uuid string, fields map[string]any) []Delivery {
	t.Helper()
	var out struct{ Deliveries []Delivery }
	p.call(t, "PATCH", "/events/"+uuid, fields, &out)
	return out.Deliveries
}

// CancelEvent is an Update with status CANCELLED.
func (p *Peer) CancelEvent(t testing.TB, uuid string) []Delivery {
	t.Helper()
	return p.UpdateEvent(t, uuid, map[string]any{"status": "CANCELLED"})
}

// DeleteEvent federates a Delete (a Tombstone from @mod on Mobilizon);
// afterwards the event's URL answers 410.
func (p *Peer) DeleteEvent(t testing.TB, uuid string) []Delivery {
	t.Helper()
	var out struct{ Deliveries []Delivery }
	p.call(t, "DELETE", "/events/"+uuid, map[string]any{}, &out)
	return out.Deliveries
}

// AcceptFollow answers a pending Follow of target ("closedgroup", "relay"…)
// by follower (an actor URL) with Accept; RejectFollow with Reject.
func (p *Peer) AcceptFollow(t testing.TB, target, follower string) Delivery {
	t.Helper()
	var d Delivery
	p.call(t, "POST", "/follows/accept", map[string]string{"target": target, "follower": follower}, &d)
	return d
}

// RejectFollow: see AcceptFollow.
func (p *Peer) RejectFollow(t testing.TB, target, follower string) Delivery {
	t.Helper()
	var d Delivery
	p.call(t, "POST", "/follows/reject", map[string]string{"target": target, "follower": follower}, &d)
	return d
}

// AcceptJoin answers a pending Join (by its id) with an Accept from @mod.
func (p *Peer) AcceptJoin(t testing.TB, joinID string) Delivery {
	t.Helper()
	var d Delivery
	p.call(t, "POST", "/joins/accept", map[string]string{"join": joinID}, &d)
	return d
}

// RejectJoin answers a pending Join with a Reject from @mod.
func (p *Peer) RejectJoin(t testing.TB, joinID string) Delivery {
	t.Helper()
	var d Delivery
	p.call(t, "POST", "/joins/reject", map[string]string{"join": joinID}, &d)
	return d
}

// Send posts any activity to inbox, signed (by Fedify) as the peer's
// actor from ("alice", "mygroup"…). Tamper "badsig" corrupts the
// signature after signing.
func (p *Peer) Send(t testing.TB, from, inbox string, activity map[string]any, tamper string) Delivery {
	t.Helper()
	var d Delivery
	p.call(t, "POST", "/send", map[string]any{"from": from, "inbox": inbox, "activity": activity, "tamper": tamper}, &d)
	return d
}

// Received is one POST the peer got.
type Received struct {
	Path     string         `json:"path"`
	Verified bool           `json:"verified"`
	Status   int            `json:"status"`
	Activity map[string]any `json:"activity"`
	// At is when the peer recorded it (after verifying), in Unix
	// milliseconds of this machine's clock.
	At int64 `json:"at"`
}

// Received lists every POST the peer got, oldest first.
func (p *Peer) Received(t testing.TB) []Received {
	t.Helper()
	var r []Received
	p.call(t, "GET", "/received", nil, &r)
	return r
}

// WaitReceived waits (up to 20 s) for a POST of that activity type and
// returns it.
func (p *Peer) WaitReceived(t testing.TB, typ string) Received {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range p.Received(t) {
			if r.Activity["type"] == typ {
				return r
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the peer received no %s within 20 s", typ)
	return Received{}
}

// State is the peer's view: followers per actor name, joins by id.
type State struct {
	Followers map[string]map[string]struct {
		FollowID string `json:"followId"`
		State    string `json:"state"`
	} `json:"followers"`
	Joins map[string]struct {
		State string `json:"state"`
	} `json:"joins"`
}

// State returns the peer's followers and joins.
func (p *Peer) State(t testing.TB) State {
	t.Helper()
	var s State
	p.call(t, "GET", "/state", nil, &s)
	return s
}

// Video describes a PeerTube video to create; by default a live
// (IsLiveBroadcast nil means true) waiting for its stream (state 4).
type Video struct {
	UUID    string `json:"uuid,omitempty"`
	Name    string `json:"name"`
	Content string `json:"content,omitempty"`
	// StartDate is the schedule's startDate (ISO 8601 UTC with
	// milliseconds, as PeerTube writes it); empty: no schedule.
	StartDate       string   `json:"startDate,omitempty"`
	IsLiveBroadcast *bool    `json:"isLiveBroadcast,omitempty"`
	State           int      `json:"state,omitempty"`
	PermanentLive   bool     `json:"permanentLive,omitempty"`
	SaveReplay      bool     `json:"saveReplay,omitempty"`
	Tags            []string `json:"tags,omitempty"`
	// StringAttributedTo writes attributedTo as bare URLs (newest PeerTube).
	StringAttributedTo bool `json:"stringAttributedTo,omitempty"`
	// Silent federates nothing: the video is only in the outboxes.
	Silent bool `json:"silent,omitempty"`
}

// PeerTubeTime formats t as PeerTube writes dates (UTC, milliseconds).
func PeerTubeTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// VideoURL is a PeerTube video's id.
func (p *Peer) VideoURL(uuid string) string { return p.URL + "/videos/watch/" + uuid }

// CreateVideo creates a video on the PeerTube peer and federates it.
func (p *Peer) CreateVideo(t testing.TB, v Video) Created {
	t.Helper()
	var c Created
	p.call(t, "POST", "/videos", v, &c)
	return c
}

// UpdateVideo changes fields of a video (JSON names as in Video, plus
// "duration"): {"startDate"} reschedules, {"state": 1} starts the stream
// (published is reset), {"state": 5} ends it, {"isLiveBroadcast": false,
// "state": 1} turns it into its replay. It federates an Update.
func (p *Peer) UpdateVideo(t testing.TB, uuid string, fields map[string]any) []Delivery {
	t.Helper()
	var out struct{ Deliveries []Delivery }
	p.call(t, "PATCH", "/videos/"+uuid, fields, &out)
	return out.Deliveries
}

// DeleteVideo federates a Delete; afterwards the video's URL answers 404.
func (p *Peer) DeleteVideo(t testing.TB, uuid string) []Delivery {
	t.Helper()
	var out struct{ Deliveries []Delivery }
	p.call(t, "DELETE", "/videos/"+uuid, map[string]any{}, &out)
	return out.Deliveries
}

// Fetch is one GET of an event the peer answered.
type Fetch struct {
	Path            string `json:"path"`
	Signed          bool   `json:"signed"`
	IfNoneMatch     string `json:"ifNoneMatch"`
	IfModifiedSince string `json:"ifModifiedSince"`
	Status          int    `json:"status"`
}

// Fetched lists every GET of an event the peer answered, oldest first.
func (p *Peer) Fetched(t testing.TB) []Fetch {
	t.Helper()
	var f []Fetch
	p.call(t, "GET", "/fetched", nil, &f)
	return f
}
