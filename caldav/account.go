package caldav

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/metrics"
	"codeberg.org/passerelle/passerelle/store"
)

// This file is the calendar account: a participant signs in with their
// address and calendar password (HTTP Basic), finds their principal and
// their calendar, and answers from their calendar app. RFC 6638 calls this
// server-side scheduling for an attendee: the app changes the attendee's
// PARTSTAT in its copy (PUT), deletes the copy (DELETE = decline), or
// sends an iTIP REPLY to the schedule outbox (POST), and the server does
// the rest. Here the rest is the same flow as a mail answer.

// Sign-in limits: failed attempts per address and per client address in
// an hour, counted in the database so every replica sees them. A calendar
// app with a stale password retries every 15 minutes or so: 4 an hour.
const (
	failedPerAddressPerHour = 10
	failedPerClientPerHour  = 50
	// loginCacheTTL is how long a successful sign-in is remembered, so
	// that a sync (a dozen requests) costs one database read; a replaced
	// password stops working within that time.
	loginCacheTTL = time.Minute
	// maxExtras bounds what an attendee may add to their copy.
	maxExtras = 32 << 10
)

// Answerer takes the answers given in calendar apps (bridges.RSVP).
type Answerer interface {
	AnswerFromCalendar(ctx context.Context, participantID, eventID int64, a bridges.Answer) (bridges.Outcome, error)
}

// Accounts signs participants in and takes what their calendar apps send.
type Accounts struct {
	DB       *store.DB
	Personal *PersonalStore
	Answers  Answerer
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxFailuresPerAddress and MaxFailuresPerClient bound failed
	// sign-ins in an hour; zero means 10 and 50.
	MaxFailuresPerAddress, MaxFailuresPerClient int

	mu    sync.Mutex
	cache map[[32]byte]cachedLogin
}

type cachedLogin struct {
	who     signedIn
	expires time.Time
}

// signedIn is who a request signed in as.
type signedIn struct {
	id      int64
	address string
}

type signedInKey struct{}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Accounts) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// dummyHash is compared against when the address is unknown, so that a
// wrong address costs the same as a wrong password.
var dummyHash = bridges.HashPassword("no such participant")

var errTooManyFailures = &httpError{code: http.StatusTooManyRequests, msg: "too many failed sign-ins to this calendar account; try again in an hour"}

func errBadLogin() *httpError {
	return &httpError{code: http.StatusUnauthorized, msg: "wrong calendar account address or password (the password is in the mails passerelle sent you)"}
}

// login checks an address and password. The answer is the same, and costs
// the same, whether the address is a participant's or not.
func (a *Accounts) login(ctx context.Context, user, password, client string) (signedIn, error) {
	key := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(user)) + "\x00" + password))
	now := a.now()
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && now.Before(c.expires) {
		a.mu.Unlock()
		return c.who, nil
	}
	a.mu.Unlock()
	addrBucket, clientBucket := "dav-user:"+store.AddressHash(user), "dav-client:"+client
	n, err := a.DB.RecentFormPosts(ctx, addrBucket, now.Add(-time.Hour))
	if err != nil {
		return signedIn{}, err
	}
	m, err := a.DB.RecentFormPosts(ctx, clientBucket, now.Add(-time.Hour))
	if err != nil {
		return signedIn{}, err
	}
	perAddress, perClient := a.MaxFailuresPerAddress, a.MaxFailuresPerClient
	if perAddress == 0 {
		perAddress = failedPerAddressPerHour
	}
	if perClient == 0 {
		perClient = failedPerClientPerHour
	}
	if n >= perAddress || m >= perClient {
		return signedIn{}, errTooManyFailures
	}
	id, hash, err := a.DB.CalendarLogin(ctx, user)
	if errors.Is(err, bridges.ErrNotFound) {
		id, hash = 0, dummyHash
	} else if err != nil {
		return signedIn{}, err
	}
	if hash == "" {
		hash = dummyHash
	}
	ok := subtle.ConstantTimeCompare([]byte(bridges.HashPassword(password)), []byte(hash)) == 1 && id != 0 && hash != dummyHash
	if !ok {
		for _, b := range []string{addrBucket, clientBucket} {
			if _, err := a.DB.CountFormPost(ctx, b, 1<<30, now); err != nil {
				return signedIn{}, err
			}
		}
		a.log().Info("calendar sign-in refused", "client", client)
		return signedIn{}, errBadLogin()
	}
	who := signedIn{id: id, address: strings.TrimSpace(user)}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) > 10000 {
		a.cache = map[[32]byte]cachedLogin{}
	}
	a.cache[key] = cachedLogin{who: who, expires: now.Add(loginCacheTTL)}
	a.mu.Unlock()
	return who, nil
}

func whoFrom(ctx context.Context) (signedIn, bool) {
	w, ok := ctx.Value(signedInKey{}).(signedIn)
	return w, ok
}

type siteRootKey struct{}

// fromSiteRoot marks a request that came to "/" (PROPFIND or OPTIONS on
// the site's root, where clients such as vdirsyncer start): the public
// calendars' discovery, which never asks for credentials.
func fromSiteRoot(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), siteRootKey{}, true))
}

// authorize decides who a request is. Public calendars and the
// secret-link ones ignore credentials (as they always did). The account's
// paths need them. The root serves the public tree to a client without
// credentials, except that a client asking /dav/ who it is
// (current-user-principal) is asked to sign in: clients such as
// python3-caldav, Thunderbird and Apple Calendar send the password only
// after a 401, and that question is how they start an account.
func (s *Server) authorize(r *http.Request) (*http.Request, error) {
	if s.Accounts == nil || r.Method == http.MethodOptions {
		return r, nil
	}
	owner, isRoot := s.ownerOf(r.URL.Path)
	if owner != "" && owner != AccountOwner {
		return r, nil
	}
	user, password, hasCreds := r.BasicAuth()
	siteRoot := r.Context().Value(siteRootKey{}) != nil
	if hasCreds {
		client, _, _ := net.SplitHostPort(r.RemoteAddr)
		who, err := s.Accounts.login(r.Context(), user, password, client)
		if err != nil && siteRoot {
			// The site's root is where the public calendars were always
			// found with any credentials (vdirsyncer and khal setups
			// carry a placeholder user): they still are. An account
			// signs in at /dav/, where a wrong password is a 401.
			return r, nil
		}
		if err != nil {
			return nil, err
		}
		ctx := context.WithValue(r.Context(), signedInKey{}, who)
		return r.WithContext(WithParticipant(ctx, who.id)), nil
	}
	if owner == AccountOwner {
		return nil, &httpError{code: http.StatusUnauthorized, msg: "sign in with your address and calendar password"}
	}
	if isRoot && r.Method == "PROPFIND" && !siteRoot && asksWhoAmI(r) {
		return nil, &httpError{code: http.StatusUnauthorized, msg: "sign in with your address and calendar password, or add the public calendars from the site's root URL"}
	}
	return r, nil
}

// asksWhoAmI reports whether a PROPFIND names current-user-principal. The
// body is read and put back for the handler.
func asksWhoAmI(r *http.Request) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = io.NopCloser(bytes.NewReader(b))
	return err == nil && bytes.Contains(b, []byte("current-user-principal"))
}

// ownerOf reads the owner segment of a path (/dav/principals/OWNER/…,
// /dav/calendars/OWNER/…), and whether the path is the root.
func (s *Server) ownerOf(p string) (owner string, root bool) {
	rest, ok := strings.CutPrefix(p, s.prefix())
	if !ok {
		return "", false
	}
	segs := strings.FieldsFunc(rest, func(r rune) bool { return r == '/' })
	if len(segs) == 0 {
		return "", true
	}
	if len(segs) >= 2 && (segs[0] == "principals" || segs[0] == "calendars") {
		return segs[1], false
	}
	return "", false
}

// unauthorized answers a 401 with the challenge clients answer with Basic.
func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="passerelle", charset="UTF-8"`)
	http.Error(w, msg, http.StatusUnauthorized)
}

// The account's scheduling collections (RFC 6638 §2.2, §2.1).
const (
	inboxSlug  = "inbox"
	outboxSlug = "outbox"
)

// Privileges on the account's calendar and its objects: the attendee may
// change their copy (their answer, their alarms) and delete it (decline).
const (
	accountCalendarPrivileges = readPrivileges + "<d:privilege><d:write-content/></d:privilege><d:privilege><d:unbind/></d:privilege>" +
		"<d:privilege><c:schedule-deliver/></d:privilege>"
	accountObjectPrivileges = readPrivileges + "<d:privilege><d:write-content/></d:privilege>"
	outboxPrivileges        = readPrivileges + "<d:privilege><c:schedule-send/></d:privilege>"
)

// accountObject loads the signed-in participant's event behind an object
// path, with how it stands and its current copy.
func (s *Server) accountObject(ctx context.Context, res *resource) (store.Invited, Object, error) {
	who, _ := whoFrom(ctx)
	ms, err := s.Accounts.DB.InvitedEvents(ctx, who.id, []int64{res.id})
	if err != nil {
		return store.Invited{}, Object{}, err
	}
	if len(ms) == 0 || !shown(ms[0]) {
		return store.Invited{}, Object{}, errorf(http.StatusNotFound, "no event %d in your calendar", res.id)
	}
	o, err := s.Accounts.Personal.render(ms[0], true)
	return ms[0], o, err
}

// checkPreconditions applies If-Match, If-None-Match and
// If-Schedule-Tag-Match to the current copy: a stale one is 412 and
// changes nothing.
func checkPreconditions(r *http.Request, cur Object) error {
	if v := r.Header.Get("If-Match"); v != "" && v != "*" && !etagListHas(v, cur.ETag) {
		return errorf(http.StatusPreconditionFailed, "If-Match %s: the event changed since your copy (now %s); sync and answer again", v, cur.ETag)
	}
	if v := r.Header.Get("If-None-Match"); v == "*" {
		return errorf(http.StatusPreconditionFailed, "If-None-Match: * but the event exists")
	}
	if v := r.Header.Get("If-Schedule-Tag-Match"); v != "" && !etagListHas(v, cur.ScheduleTag) {
		return errorf(http.StatusPreconditionFailed, "If-Schedule-Tag-Match %s: the organisers changed the event since your copy (now %s); sync and answer again", v, cur.ScheduleTag)
	}
	return nil
}

func etagListHas(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag {
			return true
		}
	}
	return false
}

// answerOf maps an attendee's PARTSTAT to an answer; NEEDS-ACTION is no
// answer at all.
func answerOf(partstat string) (bridges.Answer, bool, error) {
	switch strings.ToUpper(partstat) {
	case "ACCEPTED":
		return bridges.AnswerAccepted, true, nil
	case "DECLINED":
		return bridges.AnswerDeclined, true, nil
	case "TENTATIVE":
		return bridges.AnswerTentative, true, nil
	case "NEEDS-ACTION", "":
		return "", false, nil
	}
	return "", false, forbidden("allowed-attendee-scheduling-object-change",
		"PARTSTAT %s is not an answer passerelle can pass on (want ACCEPTED, TENTATIVE or DECLINED)", partstat)
}

// forbidden is a 403 with a CalDAV precondition element.
func forbidden(condition, format string, args ...any) *httpError {
	e := errorf(http.StatusForbidden, format, args...)
	e.condition = "<c:" + condition + "/>"
	return e
}

// put takes the attendee's copy of an event back from their calendar app.
func (s *Server) put(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	res, err := s.resolve(ctx, r.URL.Path)
	if err != nil {
		return err
	}
	if res.kind != resObject || res.owner != AccountOwner {
		return s.forbidWrite(r, "write-content")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "text/calendar") {
		return &httpError{code: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("PUT body is %s; want text/calendar", ct),
			condition: "<c:supported-calendar-data/>"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, "PUT body is over the %d-byte limit", maxBody)
		}
		return errorf(http.StatusBadRequest, "read PUT body: %v", err)
	}
	inv, cur, err := s.accountObject(ctx, res)
	var he *httpError
	if errors.As(err, &he) && he.code == http.StatusNotFound {
		e := errorf(http.StatusForbidden, "PUT %s: you cannot add events to this calendar, only answer the invitations in it", r.URL.Path)
		e.condition = "<d:need-privileges><d:resource>" + hrefXML(r.URL.Path) + "<d:privilege><d:bind/></d:privilege></d:resource></d:need-privileges>"
		return e
	}
	if err != nil {
		return err
	}
	if err := checkPreconditions(r, cur); err != nil {
		return err
	}
	who, _ := whoFrom(ctx)
	partstat, extras, err := attendeeEdit(cur.Data, body, who.address)
	if err != nil {
		return err
	}
	if err := s.answer(ctx, who, inv, partstat); err != nil {
		return err
	}
	if extras != inv.Extras {
		if err := s.Accounts.DB.SetAttendeeExtras(ctx, who.id, res.id, extras); err != nil {
			return err
		}
	}
	// No ETag: the stored copy may differ from what was sent (a yes
	// waiting for the organisers reads TENTATIVE), so the client reads it
	// back (RFC 4791 §5.3.4). The Schedule-Tag is the organiser's version,
	// which the answer did not change.
	w.Header().Set("Schedule-Tag", cur.ScheduleTag)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// answer passes a PARTSTAT on, unless it is what the copy shows already
// (a client saving an alarm, or a second device syncing the same answer).
func (s *Server) answer(ctx context.Context, who signedIn, inv store.Invited, sent string) error {
	shownPS, _ := partstat(inv.State)
	if strings.EqualFold(sent, shownPS) {
		return nil
	}
	a, ok, err := answerOf(sent)
	if err != nil || !ok {
		return err
	}
	out, err := s.Accounts.Answers.AnswerFromCalendar(ctx, who.id, inv.Event.ID, a)
	if err != nil {
		return err
	}
	if out.Ignored != "" {
		return forbidden("allowed-attendee-scheduling-object-change", "answer not taken: %s", out.Ignored)
	}
	metrics.Answers.WithLabelValues("calendar", string(a)).Inc()
	return nil
}

// organizerProps are what the organiser owns in a copy: an attendee who
// changes one is refused (RFC 6638 §3.2.2.1), since passerelle cannot
// change the organiser's event.
var organizerProps = []string{"SUMMARY", "LOCATION", "RRULE", "RDATE", "EXDATE", "ORGANIZER"}

// attendeeEdit compares the copy a client sent with the current one. It
// returns the attendee's PARTSTAT and what they added (alarms, X-
// properties and categories of their own), or the error that says what
// they may not change.
func attendeeEdit(current, sent []byte, address string) (string, string, error) {
	sentCal, err := ical.ParseObject(sent)
	if err != nil {
		return "", "", &httpError{code: http.StatusBadRequest, msg: "PUT body is not iCalendar: " + err.Error(), condition: "<c:valid-calendar-data/>"}
	}
	curCal, err := ical.ParseObject(current)
	if err != nil {
		return "", "", err
	}
	sentEv, err := onlyEvent(sentCal)
	if err != nil {
		return "", "", err
	}
	curEv, err := onlyEvent(curCal)
	if err != nil {
		return "", "", err
	}
	if u, want := propText(sentEv, "UID"), propText(curEv, "UID"); u != want {
		return "", "", forbidden("valid-calendar-object-resource", "UID %q is not this event's UID %q", u, want)
	}
	for _, name := range organizerProps {
		if a, b := propValues(sentEv, name), propValues(curEv, name); a != b {
			return "", "", forbidden("allowed-attendee-scheduling-object-change",
				"%s belongs to the organisers and cannot be changed here (sent %q, the event has %q); only your answer and your alarms can", name, a, b)
		}
	}
	sentStart, sentEnd, err := sentEv.Span()
	if err != nil {
		return "", "", &httpError{code: http.StatusBadRequest, msg: "PUT body: " + err.Error(), condition: "<c:valid-calendar-data/>"}
	}
	curStart, curEnd, err := curEv.Span()
	if err != nil {
		return "", "", err
	}
	if !sentStart.Equal(curStart) || !sentEnd.Equal(curEnd) {
		return "", "", forbidden("allowed-attendee-scheduling-object-change",
			"the time belongs to the organisers and cannot be changed here (sent %s–%s, the event is %s–%s)",
			sentStart.UTC().Format(time.RFC3339), sentEnd.UTC().Format(time.RFC3339), curStart.UTC().Format(time.RFC3339), curEnd.UTC().Format(time.RFC3339))
	}
	var ps string
	found := false
	for _, at := range sentEv.Prop("ATTENDEE") {
		addr := ical.CalAddress(at.Value)
		if !strings.EqualFold(addr, address) {
			return "", "", forbidden("allowed-attendee-scheduling-object-change",
				"ATTENDEE %s is not you: the other attendees belong to the organisers; answer only for %s", addr, address)
		}
		found = true
		if v := at.Params["PARTSTAT"]; len(v) > 0 {
			ps = v[0]
		}
	}
	if !found {
		return "", "", forbidden("allowed-attendee-scheduling-object-change",
			"your ATTENDEE line (%s) is missing: to decline, set its PARTSTAT to DECLINED or delete the event", address)
	}
	extras := ownAdditions(curEv, sentEv)
	if len(extras) > maxExtras {
		return "", "", forbidden("max-resource-size", "your additions to the event (alarms, X- properties) are %d bytes; at most %d are kept", len(extras), maxExtras)
	}
	return ps, extras, nil
}

// onlyEvent returns the one VEVENT of a calendar object.
func onlyEvent(cal *ical.Component) (*ical.Component, error) {
	var evs []*ical.Component
	for _, c := range cal.Children {
		switch c.Name {
		case "VEVENT":
			evs = append(evs, c)
		case "VTIMEZONE":
		default:
			return nil, forbidden("valid-calendar-object-resource", "the calendar holds a %s; this calendar holds events only", c.Name)
		}
	}
	if len(evs) != 1 {
		return nil, forbidden("valid-calendar-object-resource", "the calendar holds %d VEVENTs; an event of this calendar is exactly one", len(evs))
	}
	return evs[0], nil
}

func propText(c *ical.Component, name string) string {
	if ps := c.Prop(name); len(ps) > 0 {
		return strings.TrimSpace(ps[0].Text())
	}
	return ""
}

// propValues is every value of a property, in order, for comparing: the
// text of TEXT values (clients re-escape), the address of ORGANIZER.
func propValues(c *ical.Component, name string) string {
	var vs []string
	for _, p := range c.Prop(name) {
		v := strings.TrimSpace(p.Text())
		if name == "ORGANIZER" {
			v = strings.ToLower(ical.CalAddress(p.Value))
		}
		vs = append(vs, v)
	}
	return strings.Join(vs, "\n")
}

// ownAdditions are the lines of the sent copy that are the attendee's
// own: alarms, and X- properties and CATEGORIES the current copy does not
// have (calendar apps add X-MOZ-…, X-APPLE-…). Everything else the client
// wrote (DTSTAMP, SEQUENCE, re-encoded values) is the organiser's and is
// rendered afresh.
func ownAdditions(cur, sent *ical.Component) string {
	have := map[string]bool{}
	for _, p := range cur.Props {
		have[p.Line()] = true
	}
	var b strings.Builder
	for _, p := range sent.Props {
		if (strings.HasPrefix(p.Name, "X-") || p.Name == "CATEGORIES") && !have[p.Line()] {
			b.WriteString(p.Line())
		}
	}
	for _, c := range sent.Children {
		if c.Name == "VALARM" {
			b.WriteString(c.Lines())
		}
	}
	return b.String()
}

// del takes an event out of the attendee's calendar: a decline (RFC 6638
// §3.2.2.3), after which the event is no longer shown there.
func (s *Server) del(r *http.Request) error {
	ctx := r.Context()
	res, err := s.resolve(ctx, r.URL.Path)
	if err != nil {
		return err
	}
	if res.kind != resObject || res.owner != AccountOwner {
		return s.forbidWrite(r, "unbind")
	}
	inv, cur, err := s.accountObject(ctx, res)
	if err != nil {
		return err
	}
	if err := checkPreconditions(r, cur); err != nil {
		return err
	}
	who, _ := whoFrom(ctx)
	if shownPS, _ := partstat(inv.State); shownPS != "DECLINED" {
		out, err := s.Accounts.Answers.AnswerFromCalendar(ctx, who.id, res.id, bridges.AnswerDeclined)
		if err != nil {
			return err
		}
		if out.Ignored == "" {
			metrics.Answers.WithLabelValues("calendar", string(bridges.AnswerDeclined)).Inc()
		}
		if out.Ignored != "" {
			s.log().Info("calendar delete: no decline sent", "reason", out.Ignored)
		}
	}
	return s.Accounts.DB.HideInvitation(ctx, who.id, res.id)
}

// postOutbox takes an iTIP REPLY sent to the schedule outbox (clients
// that schedule themselves send one instead of changing their copy).
func (s *Server) postOutbox(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	who, ok := whoFrom(ctx)
	if !ok {
		return &httpError{code: http.StatusUnauthorized, msg: "sign in with your address and calendar password"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, "POST body is over the %d-byte limit", maxBody)
	}
	msg, err := ical.ParseITIP(body)
	if err != nil {
		return &httpError{code: http.StatusBadRequest, msg: "POST body is not an iTIP message: " + err.Error(), condition: "<c:valid-calendar-data/>"}
	}
	if !strings.EqualFold(msg.Method, "REPLY") {
		return forbidden("valid-scheduling-message", "METHOD %q: an attendee's outbox takes REPLY only", msg.Method)
	}
	invited, err := s.Accounts.DB.InvitedEvents(ctx, who.id, nil)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<c:schedule-response xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">`)
	for _, ev := range msg.Events {
		var inv *store.Invited
		for i := range invited {
			if invited[i].Event.APID == ev.UID && shown(invited[i]) {
				inv = &invited[i]
			}
		}
		if inv == nil {
			return forbidden("valid-scheduling-message", "UID %q is not an event of your calendar", ev.UID)
		}
		var ps string
		for _, at := range ev.Attendees {
			if !strings.EqualFold(at.Address, who.address) {
				return forbidden("valid-scheduling-message", "ATTENDEE %s is not you: answer only for %s", at.Address, who.address)
			}
			ps = at.PartStat
		}
		if err := s.answer(ctx, who, *inv, ps); err != nil {
			return err
		}
		b.WriteString("<c:response><c:recipient>")
		b.WriteString(hrefXML("mailto:" + s.Accounts.Personal.Organizer))
		b.WriteString("</c:recipient><c:request-status>2.0;Success</c:request-status></c:response>")
	}
	b.WriteString("</c:schedule-response>\n")
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	_, err = w.Write(b.Bytes())
	return err
}
