package caldav

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Prefix is where the CalDAV tree lives.
const Prefix = "/dav"

// maxBody bounds request bodies: a multiget of a few thousand hrefs fits.
const maxBody = 1 << 20

// Server is the read-only CalDAV server over a Store.
type Server struct {
	Store Store
	// Accounts signs participants in to their calendar account; nil
	// serves the public and secret-link calendars only.
	Accounts *Accounts
	Log      *slog.Logger
	// Prefix is where the tree is mounted; empty means Prefix ("/dav").
	Prefix string
}

func (s *Server) prefix() string {
	if s.Prefix != "" {
		return strings.TrimSuffix(s.Prefix, "/")
	}
	return Prefix
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

type resKind int

const (
	resRoot resKind = iota
	resPrincipal
	resHome
	resCalendar
	resObject
	// The account's schedule inbox and outbox (RFC 6638).
	resInbox
	resOutbox
)

// resource is what a request path names.
type resource struct {
	kind  resKind
	owner string
	cal   *Calendar
	id    int64
	obj   *Object
	state *State
}

// Paths, all under the prefix, collections ending in "/".
func (s *Server) rootPath() string { return s.prefix() + "/" }
func (s *Server) principalPath(owner string) string {
	return s.prefix() + "/principals/" + url.PathEscape(owner) + "/"
}
func (s *Server) homePath(owner string) string {
	return s.prefix() + "/calendars/" + url.PathEscape(owner) + "/"
}
func (s *Server) calendarPath(c *Calendar) string {
	return s.homePath(c.Owner) + url.PathEscape(c.Slug) + "/"
}
func (s *Server) objectPath(c *Calendar, id int64) string {
	return s.calendarPath(c) + strconv.FormatInt(id, 10) + ".ics"
}

// ServeHTTP answers every request under the prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("DAV", "1, 3, calendar-access, calendar-auto-schedule")
	const allow = "OPTIONS, GET, HEAD, PROPFIND, REPORT, PUT, DELETE, POST"
	r, err := s.authorize(r)
	if err == nil {
		switch r.Method {
		case http.MethodOptions:
			w.Header().Set("Allow", allow)
			w.WriteHeader(http.StatusOK)
			return
		case "PROPFIND":
			err = s.propfind(w, r)
		case "REPORT":
			err = s.report(w, r)
		case http.MethodGet, http.MethodHead:
			err = s.get(w, r)
		case http.MethodPut:
			if s.Accounts == nil {
				err = s.forbidWrite(r, "write-content")
			} else if err = s.put(w, r); err == nil {
				return
			}
		case http.MethodDelete:
			if s.Accounts == nil {
				err = s.forbidWrite(r, "unbind")
			} else if err = s.del(r); err == nil {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		case http.MethodPost:
			if owner, _ := s.ownerOf(r.URL.Path); s.Accounts != nil && owner == AccountOwner && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/"+outboxSlug) {
				if err = s.postOutbox(w, r); err == nil {
					return
				}
			} else {
				err = s.forbidWrite(r, "write-content")
			}
		case http.MethodPatch:
			err = s.forbidWrite(r, "write-content")
		case "MOVE":
			err = s.forbidWrite(r, "unbind")
		case "PROPPATCH":
			err = s.forbidWrite(r, "write-properties")
		case "MKCALENDAR", "MKCOL", "COPY":
			err = s.forbidWrite(r, "bind")
		case "LOCK", "UNLOCK", "ACL":
			err = s.forbidWrite(r, "write")
		default:
			err = errorf(http.StatusMethodNotAllowed, "method %s is not supported here", r.Method)
			w.Header().Set("Allow", allow)
		}
	}
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			s.log().Error("caldav request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		if errors.As(err, &he) && he.code == http.StatusUnauthorized {
			unauthorized(w, he.msg)
			return
		}
		if errors.As(err, &he) && he.code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3600")
		}
		serveError(w, err)
	}
}

// forbidWrite answers every write with 403 and the privilege it lacks
// (RFC 3744 §7.1.1), which clients such as Thunderbird and DAVx5 read as
// "this calendar is read-only" rather than as a server fault (501/405).
func (s *Server) forbidWrite(r *http.Request, privilege string) error {
	e := errorf(http.StatusForbidden, "%s %s: calendars here are read-only (they mirror federated events); in your own calendar account you may only answer (PUT with your PARTSTAT, DELETE to decline)", r.Method, r.URL.Path)
	e.condition = "<d:need-privileges><d:resource>" + hrefXML(r.URL.Path) + "<d:privilege><d:" + privilege + "/></d:privilege></d:resource></d:need-privileges>"
	return e
}

// resolve maps a request path to a resource, loading what it names.
func (s *Server) resolve(ctx context.Context, p string) (*resource, error) {
	rest, ok := strings.CutPrefix(p, s.prefix())
	if !ok {
		return nil, errorf(http.StatusNotFound, "%s is not a CalDAV resource", p)
	}
	var segs []string
	for _, seg := range strings.Split(rest, "/") {
		if seg != "" {
			segs = append(segs, seg)
		}
	}
	notFound := errorf(http.StatusNotFound, "%s: no such calendar resource", p)
	switch {
	case len(segs) == 0:
		if _, ok := SignedIn(ctx); ok {
			return &resource{kind: resRoot, owner: AccountOwner}, nil
		}
		return &resource{kind: resRoot}, nil
	case len(segs) == 3 && segs[0] == "calendars" && segs[1] == AccountOwner && (segs[2] == inboxSlug || segs[2] == outboxSlug):
		if _, ok := SignedIn(ctx); !ok {
			return nil, notFound
		}
		if segs[2] == inboxSlug {
			return &resource{kind: resInbox, owner: AccountOwner}, nil
		}
		return &resource{kind: resOutbox, owner: AccountOwner}, nil
	case len(segs) == 2 && segs[0] == "principals", len(segs) == 2 && segs[0] == "calendars":
		if _, err := s.Store.Calendars(ctx, segs[1]); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, notFound
			}
			return nil, err
		}
		if segs[0] == "principals" {
			return &resource{kind: resPrincipal, owner: segs[1]}, nil
		}
		return &resource{kind: resHome, owner: segs[1]}, nil
	case (len(segs) == 3 || len(segs) == 4) && segs[0] == "calendars":
		cal, err := s.Store.Calendar(ctx, segs[1], segs[2])
		if errors.Is(err, ErrNotFound) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		if len(segs) == 3 {
			return &resource{kind: resCalendar, owner: segs[1], cal: cal}, nil
		}
		id, ok := objectID(segs[3])
		if !ok {
			return nil, notFound
		}
		return &resource{kind: resObject, owner: segs[1], cal: cal, id: id}, nil
	}
	return nil, notFound
}

func objectID(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, ".ics")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	return id, err == nil && id > 0
}

func (s *Server) loadObject(ctx context.Context, res *resource, withData bool) error {
	objs, err := s.Store.ObjectsByID(ctx, res.cal, []int64{res.id}, withData)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errorf(http.StatusNotFound, "no event %d in calendar %s", res.id, res.cal.Slug)
	}
	res.obj = &objs[0]
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	res, err := s.resolve(r.Context(), r.URL.Path)
	if err != nil {
		return err
	}
	if res.kind != resObject {
		// A browser opening a collection gets a pointer, not an error page.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := fmt.Fprintf(w, "This is a CalDAV collection: add %s to a calendar application.\n", r.URL.Path)
		return err
	}
	if err := s.loadObject(r.Context(), res, r.Method == http.MethodGet); err != nil {
		return err
	}
	if res.obj.ScheduleTag != "" {
		w.Header().Set("Schedule-Tag", res.obj.ScheduleTag)
	}
	serveCalendarBytes(w, r, res.obj.Data, res.obj.ETag, res.obj.Modified)
	return nil
}

// propfind answers PROPFIND with Depth 0 or 1. Depth: infinity (the
// default when the header is absent) would walk every calendar's every
// object: RFC 4918 §9.1 lets a server refuse it, which we do with 403 and
// DAV:propfind-finite-depth.
func (s *Server) propfind(w http.ResponseWriter, r *http.Request) error {
	depth := r.Header.Get("Depth")
	switch depth {
	case "0", "1":
	case "", "infinity":
		e := errorf(http.StatusForbidden, "PROPFIND with Depth: infinity is not served; use Depth: 0 or 1")
		e.condition = "<d:propfind-finite-depth/>"
		return e
	default:
		return errorf(http.StatusBadRequest, "bad Depth header %q (want 0, 1 or infinity)", depth)
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	req, err := parsePropfind(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	res, err := s.resolve(ctx, r.URL.Path)
	if err != nil {
		return err
	}
	ms := newMultistatus()
	if err := s.respond(ctx, ms, res, req); err != nil {
		return err
	}
	if depth == "1" {
		if err := s.children(ctx, ms, res, req); err != nil {
			return err
		}
	}
	ms.finish(w)
	return nil
}

func (s *Server) children(ctx context.Context, ms *multistatus, res *resource, req *propRequest) error {
	switch res.kind {
	case resRoot:
		owner := PublicOwner
		if res.owner != "" {
			owner = res.owner
		}
		return s.respond(ctx, ms, &resource{kind: resPrincipal, owner: owner}, req)
	case resHome:
		cals, err := s.Store.Calendars(ctx, res.owner)
		if err != nil {
			return err
		}
		for i := range cals {
			if err := s.respond(ctx, ms, &resource{kind: resCalendar, owner: res.owner, cal: &cals[i]}, req); err != nil {
				return err
			}
		}
		if res.owner == AccountOwner {
			for _, k := range []resKind{resInbox, resOutbox} {
				if err := s.respond(ctx, ms, &resource{kind: k, owner: AccountOwner}, req); err != nil {
					return err
				}
			}
		}
	case resCalendar:
		objs, err := s.Store.Objects(ctx, res.cal, time.Time{}, time.Time{}, req.wantsData())
		if err != nil {
			return err
		}
		for i := range objs {
			s.respondObject(ms, res.cal, &objs[i], req)
		}
	}
	return nil
}

// respond writes one response for a resource that is not an object.
func (s *Server) respond(ctx context.Context, ms *multistatus, res *resource, req *propRequest) error {
	if res.kind == resObject {
		if res.obj == nil {
			if err := s.loadObject(ctx, res, req.wantsData()); err != nil {
				return err
			}
		}
		s.respondObject(ms, res.cal, res.obj, req)
		return nil
	}
	names := req.names
	if req.all {
		names = allProps[res.kind]
	}
	props := make([]propResult, 0, len(names))
	for _, n := range names {
		inner, ok, err := s.collectionProp(ctx, res, n)
		if err != nil {
			return err
		}
		if req.nameOnly {
			inner = ""
		}
		props = append(props, propResult{name: n, inner: inner, missing: !ok})
	}
	ms.response(s.hrefOf(res), props)
	return nil
}

func (s *Server) hrefOf(res *resource) string {
	switch res.kind {
	case resPrincipal:
		return s.principalPath(res.owner)
	case resHome:
		return s.homePath(res.owner)
	case resCalendar:
		return s.calendarPath(res.cal)
	case resObject:
		return s.objectPath(res.cal, res.id)
	case resInbox:
		return s.homePath(AccountOwner) + inboxSlug + "/"
	case resOutbox:
		return s.homePath(AccountOwner) + outboxSlug + "/"
	}
	return s.rootPath()
}

func (s *Server) respondObject(ms *multistatus, cal *Calendar, o *Object, req *propRequest) {
	names := req.names
	if req.all {
		names = allProps[resObject]
	}
	props := make([]propResult, 0, len(names))
	for _, n := range names {
		p := propResult{name: n}
		switch n {
		case propGetETag:
			p.inner = xmlText(o.ETag)
		case propGetContentType:
			p.inner = "text/calendar; charset=utf-8; component=vevent"
		case propGetLastModified:
			p.inner = o.Modified.UTC().Format(http.TimeFormat)
		case propResourceType:
		case propCalendarData:
			p.data = o.Data
			if p.data == nil {
				p.data = []byte{}
			}
		case propGetContentLength:
			if o.Data == nil {
				p.missing = true
			} else {
				p.inner = strconv.Itoa(len(o.Data))
			}
		case propCurrentUserPrivilegeSet:
			p.inner = readPrivileges
			if cal.Owner == AccountOwner {
				p.inner = accountObjectPrivileges
			}
		case propScheduleTag:
			p.inner, p.missing = xmlText(o.ScheduleTag), o.ScheduleTag == ""
		default:
			p.missing = true
		}
		if req.nameOnly {
			p.inner, p.data = "", nil
		}
		props = append(props, p)
	}
	ms.response(s.objectPath(cal, o.ID), props)
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
