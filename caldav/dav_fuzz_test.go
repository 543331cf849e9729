package caldav_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"codeberg.org/passerelle/passerelle/caldav"
	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
	"codeberg.org/passerelle/passerelle/internal/storetest"
)

// davLimits bound one PROPFIND or REPORT on the fixture calendars: the
// answer carries up to five events' calendar text, about 1 MiB of
// allocations with the database reads; the body's own cost is linear.
var davLimits = fuzzbound.Limits{Base: 8 << 20, PerByte: 200}

// davRequests are what the fuzzer picks from with its first byte: the
// method, Depth and collection a body is sent to.
var davRequests = []struct{ method, depth, path string }{
	{"REPORT", "1", "/dav/calendars/public/all/"},
	{"REPORT", "1", "/dav/calendars/public/fablab/"},
	{"REPORT", "0", "/dav/calendars/public/libre/"},
	{"PROPFIND", "1", "/dav/calendars/public/"},
	{"PROPFIND", "0", "/dav/calendars/public/fablab/"},
	{"PROPFIND", "1", "/dav/principals/public/"},
}

// FuzzDAVBody sends CalDAV XML bodies (PROPFIND, calendar-query with
// filters and time-ranges, calendar-multiget, sync-collection with tokens)
// to a server on SQLite holding the fixture events. Beyond bounded time
// and memory: a body is answered 207 or with a 4xx naming what is wrong,
// never a 500, and every XML answer is well-formed.
func FuzzDAVBody(f *testing.F) {
	db := storetest.New(f)
	loaded(f, db)
	srv := &caldav.Server{Store: &caldav.DBStore{DB: db}}
	for i, body := range []string{
		propfindCal,
		`<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>`,
		`<d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>`,
		"",
		fmt.Sprintf(queryTmpl, `<c:time-range start="20250101T000000Z" end="20260101T000000Z"/>`),
		fmt.Sprintf(queryTmpl, `<c:time-range end="20250601T000000Z"/><c:prop-filter name="SUMMARY"><c:text-match negate-condition="yes">fablab</c:text-match></c:prop-filter>`),
		fmt.Sprintf(queryTmpl, `<c:prop-filter name="ATTENDEE"><c:param-filter name="PARTSTAT"><c:is-not-defined/></c:param-filter></c:prop-filter>`),
		`<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><d:href>/dav/calendars/public/fablab/1.ics</d:href><d:href>/dav/calendars/public/fablab/2.ics</d:href><d:href>%zz</d:href></c:calendar-multiget>`,
		fmt.Sprintf(syncTmpl, ""),
		fmt.Sprintf(syncTmpl, "data:,passerelle-sync-1"),
		`<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:limit><d:nresults>1</d:nresults></d:limit><d:prop><d:getetag/></d:prop></d:sync-collection>`,
	} {
		for j := range davRequests {
			if (i+j)%2 == 0 {
				f.Add(byte(j), []byte(body))
			}
		}
	}
	f.Fuzz(func(t *testing.T, pick byte, body []byte) {
		req := davRequests[int(pick)%len(davRequests)]
		r := httptest.NewRequest(req.method, req.path, bytes.NewReader(body))
		r.Header.Set("Depth", req.depth)
		r.Header.Set("Content-Type", "application/xml; charset=utf-8")
		w := httptest.NewRecorder()
		fuzzbound.Check(t, len(body), davLimits, func() { srv.ServeHTTP(w, r) })
		switch w.Code {
		case http.StatusMultiStatus, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("%s %s: %d, want 207 or a 4xx naming the problem:\n%s", req.method, req.path, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); w.Code == http.StatusMultiStatus || bytes.Contains([]byte(ct), []byte("xml")) {
			if err := wellFormed(w.Body.Bytes()); err != nil {
				t.Fatalf("%s %s: %d with malformed XML (%v):\n%s", req.method, req.path, w.Code, err, w.Body)
			}
		}
	})
}

// wellFormed reads an XML document to its end.
func wellFormed(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		if _, err := d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
