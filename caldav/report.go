package caldav

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	webdav "github.com/emersion/go-webdav/caldav"

	"codeberg.org/passerelle/passerelle/ical"
)

// syncTokenPrefix makes sync tokens URIs, as RFC 6578 §3.2 requires.
const syncTokenPrefix = "data:,passerelle-sync-"

func syncToken(seq int64) string { return syncTokenPrefix + strconv.FormatInt(seq, 10) }

func parseSyncToken(s string) (int64, bool) {
	digits, ok := strings.CutPrefix(strings.TrimSpace(s), syncTokenPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil && n >= 0
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	if body == nil {
		return errorf(http.StatusBadRequest, "REPORT needs a body (calendar-query, calendar-multiget or sync-collection)")
	}
	ctx := r.Context()
	res, err := s.resolve(ctx, r.URL.Path)
	if err != nil {
		return err
	}
	name := body.XMLName
	supported := (name.Space == nsCalDAV && (name.Local == "calendar-query" || name.Local == "calendar-multiget")) ||
		(name.Space == nsDAV && name.Local == "sync-collection")
	if !supported || res.kind != resCalendar {
		e := errorf(http.StatusForbidden, "REPORT %s is not supported on %s (calendars answer calendar-query, calendar-multiget and sync-collection)", name.Local, r.URL.Path)
		e.condition = "<d:supported-report/>"
		return e
	}
	switch name.Local {
	case "calendar-query":
		return s.calendarQuery(ctx, w, res.cal, body)
	case "calendar-multiget":
		return s.multiget(ctx, w, res.cal, body)
	}
	return s.syncCollection(ctx, w, res, body)
}

// calendarQuery answers a calendar-query. The VEVENT time-range, which is
// what clients send, is answered by the store's index with RFC 4791 §9.9
// overlap semantics (go-webdav v0.6.0's matcher tests
// eventStart.After(start), so it missed an event that starts exactly at the
// range start). The rest of the filter, in go-webdav's model, is matched on
// the ical package's parse of the objects (filter.go).
func (s *Server) calendarQuery(ctx context.Context, w http.ResponseWriter, cal *Calendar, body *node) error {
	req := propsOf(body)
	filter := body.child(nsCalDAV, "filter")
	if filter == nil {
		return errorf(http.StatusBadRequest, "calendar-query without a CALDAV:filter")
	}
	top := filter.child(nsCalDAV, "comp-filter")
	if top == nil {
		return errorf(http.StatusBadRequest, "calendar-query filter without a comp-filter")
	}
	cf, err := parseCompFilter(top)
	if err != nil {
		return err
	}
	ms := newMultistatus()
	if !strings.EqualFold(cf.Name, "VCALENDAR") || cf.IsNotDefined {
		ms.finish(w)
		return nil
	}
	var from, to time.Time
	rest := cf
	switch {
	case len(cf.Comps) == 1 && strings.EqualFold(cf.Comps[0].Name, "VEVENT") && !cf.Comps[0].IsNotDefined:
		from, to = cf.Comps[0].Start, cf.Comps[0].End
		rest.Comps = []webdav.CompFilter{cf.Comps[0]}
		rest.Comps[0].Start, rest.Comps[0].End = time.Time{}, time.Time{}
	case len(cf.Comps) == 1:
		// Only VEVENTs live here: a VTODO or VJOURNAL query, or one for
		// calendars without a VEVENT, matches nothing.
		ms.finish(w)
		return nil
	}
	needMatch := hasFilters(rest)
	objs, err := s.Store.Objects(ctx, cal, from, to, req.wantsData() || needMatch)
	if err != nil {
		return err
	}
	for i := range objs {
		if needMatch {
			ok, err := matchObject(rest, objs[i].Data)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		s.respondObject(ms, cal, &objs[i], req)
	}
	ms.finish(w)
	return nil
}

// hasFilters reports whether a VCALENDAR comp-filter asks for more than
// "holds a VEVENT", which every stored object does. A nested comp-filter
// inside the VEVENT is a filter even when empty: it asks for such a
// sub-component.
func hasFilters(cal webdav.CompFilter) bool {
	if len(cal.Props) > 0 || !cal.Start.IsZero() || !cal.End.IsZero() || len(cal.Comps) > 1 {
		return true
	}
	for _, ev := range cal.Comps {
		if len(ev.Props) > 0 || len(ev.Comps) > 0 || !ev.Start.IsZero() || !ev.End.IsZero() || ev.IsNotDefined {
			return true
		}
	}
	return false
}

func matchObject(cf webdav.CompFilter, data []byte) (bool, error) {
	cal, err := ical.ParseObject(data)
	if err != nil {
		return false, errorf(http.StatusInternalServerError, "parse stored calendar: %v", err)
	}
	return matchComp(cf, cal)
}

// parseCompFilter reads a CALDAV:comp-filter into go-webdav's model.
func parseCompFilter(n *node) (webdav.CompFilter, error) {
	name, ok := n.attr("name")
	if !ok || name == "" {
		return webdav.CompFilter{}, errorf(http.StatusBadRequest, "comp-filter without a name attribute")
	}
	cf := webdav.CompFilter{Name: strings.ToUpper(name)}
	for i := range n.Children {
		c := &n.Children[i]
		if c.XMLName.Space != nsCalDAV {
			continue
		}
		switch c.XMLName.Local {
		case "is-not-defined":
			cf.IsNotDefined = true
		case "time-range":
			start, end, err := parseTimeRange(c)
			if err != nil {
				return cf, err
			}
			cf.Start, cf.End = start, end
		case "comp-filter":
			sub, err := parseCompFilter(c)
			if err != nil {
				return cf, err
			}
			cf.Comps = append(cf.Comps, sub)
		case "prop-filter":
			pf, err := parsePropFilter(c)
			if err != nil {
				return cf, err
			}
			cf.Props = append(cf.Props, pf)
		}
	}
	return cf, nil
}

func parsePropFilter(n *node) (webdav.PropFilter, error) {
	name, ok := n.attr("name")
	if !ok || name == "" {
		return webdav.PropFilter{}, errorf(http.StatusBadRequest, "prop-filter without a name attribute")
	}
	pf := webdav.PropFilter{Name: strings.ToUpper(name)}
	for i := range n.Children {
		c := &n.Children[i]
		if c.XMLName.Space != nsCalDAV {
			continue
		}
		switch c.XMLName.Local {
		case "is-not-defined":
			pf.IsNotDefined = true
		case "time-range":
			start, end, err := parseTimeRange(c)
			if err != nil {
				return pf, err
			}
			pf.Start, pf.End = start, end
		case "text-match":
			pf.TextMatch = textMatch(c)
		case "param-filter":
			pname, _ := c.attr("name")
			p := webdav.ParamFilter{Name: strings.ToUpper(pname)}
			if c.child(nsCalDAV, "is-not-defined") != nil {
				p.IsNotDefined = true
			}
			if tm := c.child(nsCalDAV, "text-match"); tm != nil {
				p.TextMatch = textMatch(tm)
			}
			pf.ParamFilter = append(pf.ParamFilter, p)
		}
	}
	return pf, nil
}

func textMatch(n *node) *webdav.TextMatch {
	neg, _ := n.attr("negate-condition")
	return &webdav.TextMatch{Text: n.Text, NegateCondition: neg == "yes"}
}

// parseTimeRange reads the UTC start and end of a CALDAV:time-range; a
// missing bound is open.
func parseTimeRange(n *node) (time.Time, time.Time, error) {
	var start, end time.Time
	for _, b := range []struct {
		attr string
		dst  *time.Time
	}{{"start", &start}, {"end", &end}} {
		v, ok := n.attr(b.attr)
		if !ok {
			continue
		}
		t, err := time.Parse("20060102T150405Z", v)
		if err != nil {
			return start, end, errorf(http.StatusBadRequest, "time-range %s=%q is not a UTC date-time like 20250330T000000Z", b.attr, v)
		}
		*b.dst = t
	}
	if start.IsZero() && end.IsZero() {
		return start, end, errorf(http.StatusBadRequest, "time-range needs a start or an end attribute")
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return start, end, errorf(http.StatusBadRequest, "time-range end %s is not after its start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return start, end, nil
}

// multiget answers calendar-multiget: the named objects, in one read, and
// a 404 response for each href that is not an object of this calendar.
func (s *Server) multiget(ctx context.Context, w http.ResponseWriter, cal *Calendar, body *node) error {
	req := propsOf(body)
	base := s.calendarPath(cal)
	var ids []int64
	hrefOf := map[int64]string{}
	var missing []string
	for _, c := range body.Children {
		if c.XMLName.Space != nsDAV || c.XMLName.Local != "href" {
			continue
		}
		href := strings.TrimSpace(c.Text)
		u, err := url.Parse(href)
		if err != nil {
			missing = append(missing, href)
			continue
		}
		name, ok := strings.CutPrefix(u.Path, base)
		id, okID := objectID(name)
		if !ok || !okID || strings.Contains(name, "/") {
			missing = append(missing, href)
			continue
		}
		if _, dup := hrefOf[id]; !dup {
			ids = append(ids, id)
			hrefOf[id] = href
		}
	}
	objs, err := s.Store.ObjectsByID(ctx, cal, ids, req.wantsData())
	if err != nil {
		return err
	}
	ms := newMultistatus()
	found := map[int64]bool{}
	for i := range objs {
		found[objs[i].ID] = true
		s.respondObject(ms, cal, &objs[i], req)
	}
	for _, id := range ids {
		if !found[id] {
			ms.status(hrefOf[id], http.StatusNotFound)
		}
	}
	for _, h := range missing {
		ms.status(h, http.StatusNotFound)
	}
	ms.finish(w)
	return nil
}

// syncCollection answers RFC 6578 sync-collection from the change log:
// the cost is the number of changes since the token, not the size of the
// calendar. Objects that were deleted, or left the calendar, are 404
// members. A token the log cannot answer gets 403 DAV:valid-sync-token, on
// which clients start a fresh sync.
func (s *Server) syncCollection(ctx context.Context, w http.ResponseWriter, res *resource, body *node) error {
	req := propsOf(body)
	if lvl := body.child(nsDAV, "sync-level"); lvl != nil && strings.TrimSpace(lvl.Text) != "1" {
		e := errorf(http.StatusForbidden, "sync-level %q is not supported (calendars have one level: use 1)", strings.TrimSpace(lvl.Text))
		e.condition = "<d:supported-report/>"
		return e
	}
	limit := 0
	if l := body.child(nsDAV, "limit"); l != nil {
		if nr := l.child(nsDAV, "nresults"); nr != nil {
			n, err := strconv.Atoi(strings.TrimSpace(nr.Text))
			if err != nil || n <= 0 {
				return errorf(http.StatusBadRequest, "limit nresults %q is not a positive number", nr.Text)
			}
			limit = n
		}
	}
	tokenText := ""
	if t := body.child(nsDAV, "sync-token"); t != nil {
		tokenText = strings.TrimSpace(t.Text)
	}
	ms := newMultistatus()
	if tokenText == "" {
		st, err := s.state(ctx, res)
		if err != nil {
			return err
		}
		objs, err := s.Store.Objects(ctx, res.cal, time.Time{}, time.Time{}, req.wantsData())
		if err != nil {
			return err
		}
		for i := range objs {
			s.respondObject(ms, res.cal, &objs[i], req)
		}
		ms.syncToken(syncToken(st.Seq))
		ms.finish(w)
		return nil
	}
	invalid := func() error {
		e := errorf(http.StatusForbidden, "sync token %q is not valid (any more): sync again without a token", tokenText)
		e.condition = "<d:valid-sync-token/>"
		return e
	}
	since, ok := parseSyncToken(tokenText)
	if !ok {
		return invalid()
	}
	changes, reached, err := s.Store.Changes(ctx, res.cal, since, limit, req.wantsData())
	if errors.Is(err, ErrSyncTokenGone) {
		return invalid()
	}
	if err != nil {
		return err
	}
	for i := range changes {
		if changes[i].Gone {
			ms.status(s.objectPath(res.cal, changes[i].ID), http.StatusNotFound)
			continue
		}
		s.respondObject(ms, res.cal, &changes[i].Object, req)
	}
	if limit > 0 && len(changes) == limit {
		// More may follow: RFC 6578 §3.6 says so with a 507 on the
		// collection itself, and the token reached lets the client go on.
		ms.status(s.calendarPath(res.cal), http.StatusInsufficientStorage)
	}
	ms.syncToken(syncToken(reached))
	ms.finish(w)
	return nil
}
