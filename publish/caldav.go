package publish

import (
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	goical "github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"

	"codeberg.org/passerelle/passerelle/ical"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/store"
)

// This file reads a CalDAV calendar collection the CalDAV way: a PROPFIND
// of the collection's sync-token and ctag tells whether anything changed
// (nothing is read when nothing did), an RFC 6578 sync-collection REPORT
// which resources changed or went, and a calendar-multiget reads those.
// Without a token to start from (first poll, a server that only offers
// a ctag, or a token the server no longer accepts) a calendar-query reads
// every VEVENT resource. go-webdav's caldav client does the multiget and
// the query; it has no sync-collection and no PROPFIND of arbitrary
// properties, which are done here.

const (
	nsDAV    = "DAV:"
	nsCalDAV = "urn:ietf:params:xml:ns:caldav"
	nsCS     = "http://calendarserver.org/ns/"
)

// errNotCalDAV is a URL that answers PROPFIND with no calendar
// collection: it is polled as a feed.
var errNotCalDAV = errors.New("not a CalDAV calendar collection")

// errTokenRefused is a sync-token the server no longer accepts (403 or
// 409 with DAV:valid-sync-token, RFC 6578 §3.2).
var errTokenRefused = errors.New("the server refused the sync-token")

// davClient talks to one CalDAV collection through the outbound client,
// with the calendar's credentials, each answer bounded by
// MaxCalendarBytes.
type davClient struct {
	http webdav.HTTPClient
	col  *url.URL
	cal  *caldav.Client
	// requests counts the requests by kind (PROPFIND, sync-collection,
	// calendar-multiget, calendar-query), for tests and logs.
	requests map[string]int
}

// limitedClient sends the Basic credentials and bounds what a response
// body may hold.
type limitedClient struct {
	c          *http.Client
	user, pass string
}

func (l *limitedClient) Do(req *http.Request) (*http.Response, error) {
	if l.user != "" || l.pass != "" {
		req.SetBasicAuth(l.user, l.pass)
	}
	resp, err := l.c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > MaxCalendarBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: the answer is %d bytes, more than the %d MiB allowed", req.Method, req.URL, resp.ContentLength, MaxCalendarBytes>>20)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: MaxCalendarBytes}
	return resp, nil
}

// limitedBody fails a read past its limit rather than cut the document
// short (a truncated multistatus would read as fewer resources).
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("the answer is more than the %d MiB allowed", MaxCalendarBytes>>20)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// dav returns a client for the calendar's collection.
func (f *Fetcher) dav(c *store.PublishedCalendar) (*davClient, error) {
	u, err := outbound.CheckURL(FeedURL(c.URL), f.AllowPrivate)
	if err != nil {
		return nil, err
	}
	hc := &limitedClient{c: f.Client, user: c.Username, pass: c.Password}
	cal, err := caldav.NewClient(hc, u.String())
	if err != nil {
		return nil, err
	}
	return &davClient{http: hc, col: u, cal: cal, requests: map[string]int{}}, nil
}

// collectionState is what a PROPFIND of the collection says.
type collectionState struct {
	SyncToken, CTag string
}

// multistatus is the part of a 207 answer read here.
type multistatus struct {
	Responses []struct {
		Hrefs    []string `xml:"DAV: href"`
		Status   string   `xml:"DAV: status"`
		Propstat []struct {
			Status string `xml:"DAV: status"`
			Prop   struct {
				ResourceType struct {
					Calendar *struct{} `xml:"urn:ietf:params:xml:ns:caldav calendar"`
				} `xml:"DAV: resourcetype"`
				SyncToken string `xml:"DAV: sync-token"`
				CTag      string `xml:"http://calendarserver.org/ns/ getctag"`
				ETag      string `xml:"DAV: getetag"`
			} `xml:"DAV: prop"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
	SyncToken string `xml:"DAV: sync-token"`
}

// statusOK reads an HTTP status line ("HTTP/1.1 200 OK"); an absent one
// counts as 200.
func statusOK(s string) bool {
	f := strings.Fields(s)
	return len(f) < 2 || strings.HasPrefix(f[1], "2")
}

// do sends one XML request and reads its 207 answer.
func (d *davClient) do(ctx context.Context, method, kind, depth, body string) (*multistatus, int, error) {
	d.requests[kind]++
	req, err := http.NewRequestWithContext(ctx, method, d.col.String(), strings.NewReader(`<?xml version="1.0" encoding="utf-8"?>`+body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	req.Header.Set("Depth", depth)
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", kind, d.col, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, resp.StatusCode, &davStatusError{kind: kind, url: d.col.String(), code: resp.StatusCode, body: string(b)}
	}
	var ms multistatus
	if err := xml.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: the answer is not a DAV multistatus: %w", kind, d.col, err)
	}
	return &ms, resp.StatusCode, nil
}

type davStatusError struct {
	kind, url, body string
	code            int
}

func (e *davStatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d %s", e.kind, e.url, e.code, http.StatusText(e.code))
}

// state reads the collection's sync-token and ctag with a PROPFIND of
// depth 0, and tells a calendar collection from anything else: a URL
// that does not answer 207 with C:calendar in its resourcetype is
// errNotCalDAV (a plain .ics, a web server that knows no PROPFIND). A
// refused password is an error, not a feed.
func (d *davClient) state(ctx context.Context) (*collectionState, error) {
	ms, code, err := d.do(ctx, "PROPFIND", "PROPFIND", "0",
		`<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:resourcetype/><d:sync-token/><cs:getctag/></d:prop></d:propfind>`)
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		return nil, &outbound.StatusError{URL: d.col.String(), StatusCode: code}
	}
	if err != nil {
		var se *davStatusError
		if errors.As(err, &se) && (se.code < 500 || se.code == http.StatusNotImplemented) {
			// 405, 501, or a web server that answers any method
			// with the page: no WebDAV there.
			return nil, errNotCalDAV
		}
		if code == http.StatusMultiStatus {
			return nil, errNotCalDAV
		}
		return nil, err
	}
	st := &collectionState{}
	calendar := false
	for _, r := range ms.Responses {
		for _, ps := range r.Propstat {
			if !statusOK(ps.Status) {
				continue
			}
			if ps.Prop.ResourceType.Calendar != nil {
				calendar = true
			}
			st.SyncToken = cmp.Or(st.SyncToken, strings.TrimSpace(ps.Prop.SyncToken))
			st.CTag = cmp.Or(st.CTag, strings.TrimSpace(ps.Prop.CTag))
		}
	}
	if !calendar {
		return nil, errNotCalDAV
	}
	return st, nil
}

// changes is what a sync-collection REPORT says since a token.
type changes struct {
	Changed, Removed []string
	Token            string
}

// syncCollection asks what changed since token (RFC 6578). A token the
// server refuses is errTokenRefused: the caller reads the whole calendar.
func (d *davClient) syncCollection(ctx context.Context, token string) (*changes, error) {
	var b strings.Builder
	b.WriteString(`<d:sync-collection xmlns:d="DAV:"><d:sync-token>`)
	xml.EscapeText(&b, []byte(token))
	b.WriteString(`</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`)
	ms, code, err := d.do(ctx, "REPORT", "sync-collection", "0", b.String())
	if err != nil {
		var se *davStatusError
		if errors.As(err, &se) && (code == http.StatusForbidden || code == http.StatusConflict) &&
			(strings.Contains(se.body, "valid-sync-token") || strings.TrimSpace(se.body) == "") {
			return nil, errTokenRefused
		}
		return nil, err
	}
	ch := &changes{Token: strings.TrimSpace(ms.SyncToken)}
	for _, r := range ms.Responses {
		for _, h := range r.Hrefs {
			p, err := d.path(h)
			if err != nil {
				return nil, err
			}
			if p == d.col.Path || p+"/" == d.col.Path {
				continue // the collection itself
			}
			if !statusOK(r.Status) {
				// 404: the member was removed (RFC 6578 §3.5.2).
				ch.Removed = append(ch.Removed, p)
			} else {
				ch.Changed = append(ch.Changed, p)
			}
		}
	}
	return ch, nil
}

// path turns an href (a path, or an absolute URL on the same server) into
// the path the resources are stored under.
func (d *davClient) path(href string) (string, error) {
	u, err := d.col.Parse(strings.TrimSpace(href))
	if err != nil {
		return "", fmt.Errorf("bad href %q in the answer of %s: %w", href, d.col, err)
	}
	if u.Host != d.col.Host {
		return "", fmt.Errorf("href %q in the answer of %s is on another server", href, d.col)
	}
	return u.Path, nil
}

// calendarData asks for whole calendar objects.
var calendarData = caldav.CalendarCompRequest{Name: "VCALENDAR", AllProps: true, AllComps: true}

// multiget reads the resources at those paths.
func (d *davClient) multiget(ctx context.Context, paths []string) ([]store.PublishedResource, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	d.requests["calendar-multiget"]++
	objs, err := d.cal.MultiGetCalendar(ctx, d.col.Path, &caldav.CalendarMultiGet{Paths: paths, CompRequest: calendarData})
	if err != nil {
		return nil, fmt.Errorf("calendar-multiget %s: %w", d.col, err)
	}
	return resources(objs)
}

// query reads every resource of the collection that holds a VEVENT.
func (d *davClient) query(ctx context.Context) ([]store.PublishedResource, error) {
	d.requests["calendar-query"]++
	objs, err := d.cal.QueryCalendar(ctx, d.col.Path, &caldav.CalendarQuery{CompRequest: calendarData,
		CompFilter: caldav.CompFilter{Name: "VCALENDAR", Comps: []caldav.CompFilter{{Name: "VEVENT"}}}})
	if err != nil {
		return nil, fmt.Errorf("calendar-query %s: %w", d.col, err)
	}
	return resources(objs)
}

func resources(objs []caldav.CalendarObject) ([]store.PublishedResource, error) {
	out := make([]store.PublishedResource, 0, len(objs))
	for _, o := range objs {
		if o.Data == nil {
			continue
		}
		r := store.PublishedResource{Href: o.Path, ETag: o.ETag, Data: encodeCalendar(o.Data.Component)}
		for _, c := range o.Data.Children {
			if c.Name == goical.CompEvent {
				if p := c.Props.Get(goical.PropUID); p != nil {
					r.UID = strings.TrimSpace(p.Value)
					break
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// encodeCalendar writes a calendar object back as iCalendar text, through
// ical.Component's writer (CRLF, folded at 75 octets, parameters quoted
// and RFC 6868-encoded, so a CN taken from an actor's name cannot end the
// line and start another property). go-ical's own encoder refuses objects
// that break a SHOULD or a MUST of RFC 5545 (a VEVENT without DTSTAMP, two
// DESCRIPTIONs); organisers' calendars have those and their other VEVENTs
// are still worth publishing, so this one writes what was read, values as
// they were (TEXT escapes still in), and Parse judges it.
func encodeCalendar(c *goical.Component) []byte {
	return []byte(component(c).Lines())
}

// component is c as an ical.Component, properties in name order (go-ical
// keeps them in a map).
func component(c *goical.Component) *ical.Component {
	out := &ical.Component{Name: c.Name}
	names := make([]string, 0, len(c.Props))
	for n := range c.Props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, p := range c.Props[n] {
			out.Props = append(out.Props, ical.Prop{Name: p.Name, Params: p.Params, Value: p.Value})
		}
	}
	for _, ch := range c.Children {
		out.Children = append(out.Children, component(ch))
	}
	return out
}
