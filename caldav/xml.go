package caldav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The XML namespaces CalDAV clients speak.
const (
	nsDAV    = "DAV:"
	nsCalDAV = "urn:ietf:params:xml:ns:caldav"
	nsCS     = "http://calendarserver.org/ns/"
	nsApple  = "http://apple.com/ns/ical/"
)

var prefixes = map[string]string{nsDAV: "d", nsCalDAV: "c", nsCS: "cs", nsApple: "a"}

// node is an XML element read from a request body, kept generic: the
// bodies are small and their shapes vary with each client.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n *node) child(space, local string) *node {
	for i := range n.Children {
		if n.Children[i].XMLName.Space == space && n.Children[i].XMLName.Local == local {
			return &n.Children[i]
		}
	}
	return nil
}

func (n *node) attr(local string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// httpError is an error with the status it answers, and optionally a
// DAV:error body naming the failed precondition (RFC 4918 §16).
type httpError struct {
	code int
	msg  string
	// condition is the inner XML of <d:error>, already escaped.
	condition string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// readBody reads a request body of at most max bytes and parses it as XML;
// an empty body gives a nil node. Too large → 413, malformed → 400, each
// naming the problem.
func readBody(w http.ResponseWriter, r *http.Request, max int64) (*node, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "request body is over the %d-byte limit", max)
		}
		return nil, errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var n node
	if err := xml.Unmarshal(b, &n); err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed XML request body: %v", err)
	}
	return &n, nil
}

// multistatus writes a 207 Multi-Status body as it goes; it is written by
// hand rather than through encoding/xml so that calendar data is copied in
// once, escaped, without building a tree per object.
type multistatus struct {
	b bytes.Buffer
}

func newMultistatus() *multistatus {
	m := &multistatus{}
	m.b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:a="http://apple.com/ns/ical/">`)
	return m
}

// propResult is one property of a response: its inner XML, or missing.
type propResult struct {
	name    xml.Name
	inner   string
	data    []byte // calendar-data, escaped when written
	missing bool
}

func (m *multistatus) response(href string, props []propResult) {
	m.b.WriteString("<d:response><d:href>")
	escape(&m.b, href)
	m.b.WriteString("</d:href>")
	for _, ok := range []bool{true, false} {
		first := true
		for _, p := range props {
			if p.missing == ok {
				continue
			}
			if first {
				m.b.WriteString("<d:propstat><d:prop>")
				first = false
			}
			open, closeTag := tagOf(p.name)
			m.b.WriteString(open)
			if p.data != nil {
				escapeBytes(&m.b, p.data)
			} else {
				m.b.WriteString(p.inner)
			}
			m.b.WriteString(closeTag)
		}
		if !first {
			if ok {
				m.b.WriteString("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>")
			} else {
				m.b.WriteString("</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>")
			}
		}
	}
	m.b.WriteString("</d:response>")
}

func (m *multistatus) status(href string, code int) {
	m.b.WriteString("<d:response><d:href>")
	escape(&m.b, href)
	fmt.Fprintf(&m.b, "</d:href><d:status>HTTP/1.1 %d %s</d:status></d:response>", code, http.StatusText(code))
}

func (m *multistatus) syncToken(token string) {
	m.b.WriteString("<d:sync-token>")
	escape(&m.b, token)
	m.b.WriteString("</d:sync-token>")
}

func (m *multistatus) finish(w http.ResponseWriter) {
	m.b.WriteString("</d:multistatus>\n")
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusMultiStatus)
	_, _ = w.Write(m.b.Bytes())
}

// tagOf returns the opening and closing tags of a property, with a known
// prefix or an inline namespace declaration for properties we do not know.
func tagOf(n xml.Name) (string, string) {
	local := sanitizeName(n.Local)
	if p, ok := prefixes[n.Space]; ok {
		return "<" + p + ":" + local + ">", "</" + p + ":" + local + ">"
	}
	var ns bytes.Buffer
	escape(&ns, n.Space)
	return "<x:" + local + ` xmlns:x="` + ns.String() + `">`, "</x:" + local + ">"
}

// sanitizeName keeps an element name that came from a request well formed
// when echoed back in a 404 propstat.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
}

func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

func escapeBytes(b *bytes.Buffer, s []byte) {
	_ = xml.EscapeText(b, s)
}

func hrefXML(path string) string {
	var b bytes.Buffer
	b.WriteString("<d:href>")
	escape(&b, path)
	b.WriteString("</d:href>")
	return b.String()
}

// serveError answers an error: httpErrors with their status (and DAV:error
// body), anything else as a 500 without details (they go to the log).
func serveError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	if he.condition != "" {
		w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
		w.WriteHeader(he.code)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">%s<d:responsedescription>`, he.condition)
		var b bytes.Buffer
		escape(&b, he.msg)
		_, _ = w.Write(b.Bytes())
		_, _ = io.WriteString(w, "</d:responsedescription></d:error>\n")
		return
	}
	http.Error(w, he.msg, he.code)
}
