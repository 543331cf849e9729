// Package astext turns the descriptions federated events carry into the two
// forms passerelle keeps: sanitised HTML (for web pages, mail and
// Mastodon) and plain text (for iCalendar DESCRIPTION and text mail).
//
// Every dialect (bridges/mobilizon, bridges/gancio, bridges/generic,
// bridges/peertube) goes through here, so a description is cleaned and
// flattened the same way whatever server it came from.
package astext

import (
	"html"
	"regexp"
	"strconv"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// ugc is bluemonday's user-generated-content policy: the markup people
// write in event descriptions (paragraphs, lists, links, emphasis, images)
// survives, scripts, styles and event handlers do not. A policy is safe for
// concurrent use once built.
var ugc = bluemonday.UGCPolicy()

// Sanitize returns s as HTML that is safe to embed in a page or a mail.
func Sanitize(s string) string {
	return strings.TrimSpace(ugc.Sanitize(s))
}

// looksLikeHTML matches a start or end tag, a comment or a character
// reference: what a plain-text description (Gancio 1.x sends one, with its
// line breaks) never contains.
var looksLikeHTML = regexp.MustCompile(`<[a-zA-Z!/][^>]*>|&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);`)

// LooksLikeHTML reports whether s carries markup. ActivityStreams says
// `content` is HTML unless mediaType says otherwise, but some servers send
// plain text without saying so; reading it as HTML would glue its lines
// together, so callers treat text without any markup as plain text.
func LooksLikeHTML(s string) bool {
	return looksLikeHTML.MatchString(s)
}

// FromPlain returns plain text as sanitised HTML and normalised text: lines
// are trimmed, runs of blank lines become one paragraph break.
func FromPlain(s string) (htmlOut, text string) {
	var paras [][]string
	var cur []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			if len(cur) > 0 {
				paras = append(paras, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		paras = append(paras, cur)
	}
	var h, t []string
	for _, p := range paras {
		esc := make([]string, len(p))
		for i, l := range p {
			esc[i] = html.EscapeString(l)
		}
		h = append(h, "<p>"+strings.Join(esc, "<br>")+"</p>")
		t = append(t, strings.Join(p, "\n"))
	}
	return Sanitize(strings.Join(h, "")), strings.Join(t, "\n\n")
}

// FromHTML sanitises s and returns it with its plain-text form.
func FromHTML(s string) (htmlOut, text string) {
	clean := Sanitize(s)
	return clean, Text(clean)
}

// Text renders HTML as plain text for readers without HTML: paragraphs and
// other blocks are separated by a blank line, <br> is a line break, list
// items start a line with "- " (or "1. " in ordered lists, indented when
// nested), a link whose text is not its address is followed by the address
// in parentheses, an image by its alt text. Whitespace collapses as a
// browser would, except inside <pre>. Addresses are not put in angle
// brackets: some calendar apps (Google Calendar, Outlook) read DESCRIPTION
// as HTML and drop "<https://…>" as an unknown tag, address and all.
//
// It is written here because no well-kept Go library does this small job
// without pulling in a whole layout engine; it walks the tree that
// golang.org/x/net/html builds, as browsers would parse it.
func Text(s string) string {
	nodes, err := xhtml.ParseFragment(strings.NewReader(s), &xhtml.Node{Type: xhtml.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil {
		// The parser only fails on reader errors, which a strings.Reader
		// never returns; fall back to the text itself rather than nothing.
		return strings.TrimSpace(s)
	}
	w := &textWriter{}
	for _, n := range nodes {
		w.node(n)
	}
	return strings.TrimSpace(w.b.String())
}

type listState struct {
	ordered bool
	n       int
}

type textWriter struct {
	b        strings.Builder
	breaks   int    // newlines owed before the next text
	space    bool   // a space is owed before the next word
	prefix   string // list marker owed before the next text
	lists    []listState
	pre      int
	anything bool
}

// breakLine asks for at least n newlines before whatever comes next. While
// a list marker is pending, blocks inside the item (<li><p>…) must not
// push the item's text away from its marker.
func (w *textWriter) breakLine(n int) {
	if !w.anything || w.prefix != "" {
		return
	}
	if n > w.breaks {
		w.breaks = n
	}
	w.space = false
}

func (w *textWriter) startLine() {
	if w.breaks > 0 {
		w.b.WriteString(strings.Repeat("\n", w.breaks))
		w.breaks = 0
		w.space = false
		if len(w.lists) > 0 && w.prefix == "" {
			// Continuation lines of a list item line up with its text.
			w.b.WriteString(strings.Repeat("  ", len(w.lists)))
		}
	}
	if w.prefix != "" {
		w.b.WriteString(w.prefix)
		w.prefix = ""
		w.space = false
	}
}

func (w *textWriter) word(s string) {
	w.startLine()
	if w.space {
		w.b.WriteByte(' ')
	}
	w.b.WriteString(s)
	w.space = false
	w.anything = true
}

func (w *textWriter) text(s string) {
	if w.pre > 0 {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			if i > 0 {
				w.anything = true
				w.breakLine(1)
			}
			if l != "" {
				w.word(l)
			}
		}
		return
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		if s != "" && w.anything {
			w.space = true
		}
		return
	}
	if startsWithSpace(s) && w.anything {
		w.space = true
	}
	for i, f := range fields {
		if i > 0 {
			w.space = true
		}
		w.word(f)
	}
	if endsWithSpace(s) {
		w.space = true
	}
}

func startsWithSpace(s string) bool {
	return strings.TrimLeft(s, " \t\n\r\f\u00a0") != s
}

func endsWithSpace(s string) bool {
	return strings.TrimRight(s, " \t\n\r\f\u00a0") != s
}

func (w *textWriter) children(n *xhtml.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c)
	}
}

func (w *textWriter) node(n *xhtml.Node) {
	switch n.Type {
	case xhtml.TextNode:
		w.text(n.Data)
		return
	case xhtml.ElementNode:
	default:
		w.children(n)
		return
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Template:
		return
	case atom.Br:
		w.anything = true
		w.breakLine(1)
	case atom.Img:
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			w.text(" [" + alt + "] ")
		}
	case atom.A:
		before := w.b.Len()
		w.children(n)
		href := attr(n, "href")
		shown := strings.TrimSpace(w.b.String()[before:])
		if (strings.HasPrefix(href, "http://") || strings.HasPrefix(href, "https://")) && href != shown && !strings.HasSuffix(shown, href) {
			w.space = true
			w.word("(" + href + ")")
		}
	case atom.Ul, atom.Ol:
		w.breakLine(1)
		w.lists = append(w.lists, listState{ordered: n.DataAtom == atom.Ol})
		w.children(n)
		w.lists = w.lists[:len(w.lists)-1]
		if len(w.lists) == 0 {
			w.breakLine(2)
		} else {
			w.breakLine(1)
		}
	case atom.Li:
		w.breakLine(1)
		marker := "- "
		if k := len(w.lists); k > 0 {
			l := &w.lists[k-1]
			if l.ordered {
				l.n++
				marker = strconv.Itoa(l.n) + ". "
			}
			marker = strings.Repeat("  ", k-1) + marker
		}
		if w.anything && w.breaks == 0 {
			w.breaks = 1
		}
		w.prefix = marker
		w.children(n)
		w.prefix = ""
		w.breakLine(1)
	case atom.Pre:
		w.breakLine(2)
		w.pre++
		w.children(n)
		w.pre--
		w.breakLine(2)
	case atom.P, atom.Div, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Blockquote, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Table, atom.Tr, atom.Hr, atom.Figure, atom.Dl, atom.Dd, atom.Dt, atom.Address:
		if len(w.lists) > 0 {
			w.breakLine(1)
		} else {
			w.breakLine(2)
		}
		w.children(n)
		if len(w.lists) > 0 {
			w.breakLine(1)
		} else {
			w.breakLine(2)
		}
	case atom.Td, atom.Th:
		w.children(n)
		w.space = true
	default:
		w.children(n)
	}
}

func attr(n *xhtml.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
