// Package mastodontest runs an in-process Mastodon API server for tests.
//
// No Mastodon-API server can be installed or built here (see PEERS.md), so
// this server behaves as the API documentation and the captured responses in
// testdata/ (copied from shared/fixtures/mastodon, from docs.joinmastodon.org)
// say, in two modes that differ where real servers differ:
//
//   - Mastodon honours Idempotency-Key, answers 422 to an over-long status,
//     processes images asynchronously (POST /api/v2/media answers 202 with a
//     null url, GET /api/v1/media/:id answers 206 until it is ready), counts
//     23 characters per URL and publishes statuses publicly by default.
//   - GoToSocial ignores Idempotency-Key, answers 400 to an over-long status,
//     processes images at once (200), counts 25 characters per URL and makes
//     statuses unlisted when no visibility is given (the default privacy
//     of a new GoToSocial account; it follows the account's setting).
//
// The GoToSocial answers were checked against GoToSocial's own testrig
// (commit 57cb4fe7): Idempotency-Key ignored, 400 "Bad Request: text with
// spoiler exceed max chars (N)", media 200 with its url, 25 per URL,
// 401 "Unauthorized: token not supplied".
//
// Tests steer it with controls: inject failures, rate limits (429 with
// X-RateLimit-Reset), revoked tokens (401), refused edits, and a hook that
// runs after a status is stored but before the answer is sent (the crash
// point for exactly-once tests).
package mastodontest

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Mode selects which server's behaviour to imitate.
type Mode string

// The two behaviours the server can take.
const (
	Mastodon   Mode = "mastodon"
	GoToSocial Mode = "gotosocial"
)

// Options configure a server; zero values take the documented defaults.
type Options struct {
	Mode Mode
	// MaxCharacters is configuration.statuses.max_characters (500).
	MaxCharacters int
	// Username is the one local account's name ("events").
	Username string
	// MediaPolls is how many GET /api/v1/media/:id answer 206 before the
	// attachment is ready, in Mastodon mode (1).
	MediaPolls int
}

//go:embed testdata/instance-v2.json
var instanceV2 []byte

//go:embed testdata/media-v2-200-ok.json
var mediaDoc []byte

// Status is a stored status as the server keeps it.
type Status struct {
	ID          string
	Text        string
	Visibility  string
	Language    string
	InReplyToID string
	MediaIDs    []string
	Idempotency string
	CreatedAt   time.Time
	EditedAt    time.Time
	Edits       int
	Deleted     bool
	// Author is who wrote a mention (AddMention); nil for the server's
	// own account.
	Author *Author
	// HTML, when set, is the content as given (a mention's).
	HTML string
}

// Author is an account other than the server's own that mentions it.
type Author struct {
	ID       string
	Username string
	// Domain is the author's server; empty for an account of this one.
	Domain string
}

// Mention is a status that mentions the server's account, in reply to one
// of its statuses (or to none).
type Mention struct {
	Author      Author
	Text        string
	InReplyToID string
	// HTML replaces the content the server would render from Text (for
	// other servers' markup, or hostile input).
	HTML string
}

type notification struct {
	id       string
	statusID string
}

type media struct {
	id          string
	description string
	size        int
	polls       int
}

type failure struct {
	method, prefix string
	code           int
	body           string
	n              int
}

// Server is a running test server. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:PORT).
	URL string

	opts Options
	srv  *httptest.Server

	mu          sync.Mutex
	apps        map[string]app // by client id
	codes       map[string]app // authorization code → app
	tokens      map[string][]string
	statuses    []*Status
	nextID      int64
	media       map[string]*media
	idem        map[string]string // Idempotency-Key → status id
	failures    []*failure
	limited     int
	reset       time.Time
	refuseEdits bool
	onCreate    func(Status)
	requests    []string
	notes       []notification
	nextNote    int64
	streams     map[chan string]bool
}

type app struct {
	clientID, secret, redirect, scopes, name string
}

// New starts a server on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := NewUnstarted(opts)
	s.srv = httptest.NewServer(s.Handler())
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// NewUnstarted returns a server whose Handler the caller mounts itself.
func NewUnstarted(opts Options) *Server {
	if opts.Mode == "" {
		opts.Mode = Mastodon
	}
	if opts.MaxCharacters == 0 {
		opts.MaxCharacters = 500
	}
	if opts.Username == "" {
		opts.Username = "events"
	}
	if opts.MediaPolls == 0 {
		opts.MediaPolls = 1
	}
	return &Server{
		opts:   opts,
		apps:   map[string]app{},
		codes:  map[string]app{},
		tokens: map[string][]string{},
		media:  map[string]*media{},
		idem:   map[string]string{},
		nextID: 110000000000000000,
	}
}

// Mode is the behaviour the server imitates.
func (s *Server) Mode() Mode { return s.opts.Mode }

// ReservedPerURL is how many characters a URL counts for in this mode.
func (s *Server) ReservedPerURL() int {
	if s.opts.Mode == GoToSocial {
		return 25
	}
	return 23
}

// AccountID is the id of the server's one account.
const AccountID = "109000000000000001"

// Acct is the account's handle, @user@host.
func (s *Server) Acct() string {
	u, _ := url.Parse(s.URL)
	return "@" + s.opts.Username + "@" + u.Host
}

// Token returns a fresh access token with every scope, as if the account
// had gone through the OAuth flow.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := randomHex(16)
	s.tokens[tok] = []string{"read", "write"}
	return tok
}

// AuthorizeCode approves an app registered on the server, as the account's
// owner would on /oauth/authorize, and returns the out-of-band code.
func (s *Server) AuthorizeCode(clientID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[clientID]
	if !ok {
		return "", fmt.Errorf("no app with client id %q", clientID)
	}
	code := randomHex(12)
	s.codes[code] = a
	return code, nil
}

// Fail makes the next n requests whose method matches and whose path starts
// with prefix answer code with body (a JSON error when body is empty).
func (s *Server) Fail(method, prefix string, code, n int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == "" {
		body = fmt.Sprintf(`{"error":%q}`, http.StatusText(code))
	}
	s.failures = append(s.failures, &failure{method: method, prefix: prefix, code: code, body: body, n: n})
}

// RateLimit makes the next n API requests answer 429, saying the limit
// resets at reset.
func (s *Server) RateLimit(n int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited, s.reset = n, reset
}

// RevokeTokens invalidates every access token: requests then get 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// RefuseEdits makes PUT /api/v1/statuses/:id answer 404, as servers
// without status editing do.
func (s *Server) RefuseEdits(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseEdits = refuse
}

// OnCreate sets a hook run after a status is stored and before the POST is
// answered; it runs without the server's lock, so it may block (a test
// kills its client there).
func (s *Server) OnCreate(hook func(Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onCreate = hook
}

// Statuses returns the account's own statuses that exist (not deleted),
// oldest first; mentions of it are not among them.
func (s *Server) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.statuses {
		if !st.Deleted && st.Author == nil {
			c := *st
			c.MediaIDs = slices.Clone(st.MediaIDs)
			out = append(out, c)
		}
	}
	return out
}

// Status returns one status by id, deleted ones included.
func (s *Server) Status(id string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.statuses {
		if st.ID == id {
			return *st, true
		}
	}
	return Status{}, false
}

// Requests returns "METHOD /path" of every request received, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// MediaDescription returns the alt text of an uploaded attachment.
func (s *Server) MediaDescription(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.media[id]; ok {
		return m.description
	}
	return ""
}

// Handler serves the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/apps", s.registerApp)
	mux.HandleFunc("GET /oauth/authorize", s.authorize)
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("POST /oauth/revoke", s.revoke)
	mux.HandleFunc("GET /api/v2/instance", s.instance)
	mux.HandleFunc("GET /api/v1/accounts/verify_credentials", s.authed("read:accounts", s.verifyCredentials))
	mux.HandleFunc("GET /api/v1/accounts/{id}/statuses", s.authed("read:statuses", s.accountStatuses))
	mux.HandleFunc("POST /api/v1/statuses", s.authed("write:statuses", s.createStatus))
	mux.HandleFunc("GET /api/v1/statuses/{id}", s.authed("read:statuses", s.getStatus))
	mux.HandleFunc("PUT /api/v1/statuses/{id}", s.authed("write:statuses", s.editStatus))
	mux.HandleFunc("DELETE /api/v1/statuses/{id}", s.authed("write:statuses", s.deleteStatus))
	mux.HandleFunc("POST /api/v2/media", s.authed("write:media", s.uploadMedia))
	mux.HandleFunc("GET /api/v1/media/{id}", s.authed("write:media", s.getMedia))
	mux.HandleFunc("GET /api/v1/notifications", s.authed("read:notifications", s.notifications))
	mux.HandleFunc("GET /api/v1/streaming/user/notification", s.authed("read:notifications", s.stream))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		for _, f := range s.failures {
			if f.n > 0 && (f.method == "" || f.method == r.Method) && strings.HasPrefix(r.URL.Path, f.prefix) {
				f.n--
				s.mu.Unlock()
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(f.code)
				io.WriteString(w, f.body)
				return
			}
		}
		if s.limited > 0 && strings.HasPrefix(r.URL.Path, "/api/") {
			s.limited--
			reset := s.reset
			s.mu.Unlock()
			// Mastodon sends the reset as an ISO 8601 timestamp.
			w.Header().Set("X-RateLimit-Limit", "300")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", reset.UTC().Format("2006-01-02T15:04:05.000Z"))
			writeError(w, http.StatusTooManyRequests, "Too many requests")
			return
		}
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) authed(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		scopes, valid := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !valid {
			if s.opts.Mode == GoToSocial {
				writeError(w, http.StatusUnauthorized, "Unauthorized: token not supplied")
			} else {
				writeError(w, http.StatusUnauthorized, "The access token is invalid")
			}
			return
		}
		top, _, _ := strings.Cut(scope, ":")
		if !slices.Contains(scopes, scope) && !slices.Contains(scopes, top) {
			writeError(w, http.StatusForbidden, "This action is outside the authorized scopes")
			return
		}
		h(w, r)
	}
}

func (s *Server) registerApp(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a := app{
		clientID: randomHex(16), secret: randomHex(16),
		redirect: r.PostForm.Get("redirect_uris"), scopes: r.PostForm.Get("scopes"),
		name: r.PostForm.Get("client_name"),
	}
	if a.name == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Application name can't be blank")
		return
	}
	if a.scopes == "" {
		a.scopes = "read"
	}
	s.mu.Lock()
	s.apps[a.clientID] = a
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"id": strconv.FormatInt(time.Now().UnixNano()%1e6, 10), "name": a.name, "website": nil,
		"redirect_uri": a.redirect, "redirect_uris": strings.Fields(a.redirect), "scopes": strings.Fields(a.scopes),
		"client_id": a.clientID, "client_secret": a.secret, "vapid_key": "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M=",
	})
}

// authorize stands for the page where the signed-in owner approves the app;
// with the out-of-band redirect, Mastodon then shows the code to copy.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" {
		writeError(w, http.StatusBadRequest, "unsupported_response_type")
		return
	}
	s.mu.Lock()
	a, ok := s.apps[q.Get("client_id")]
	s.mu.Unlock()
	if !ok || q.Get("redirect_uri") != a.redirect {
		writeError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	for _, sc := range strings.Fields(q.Get("scope")) {
		if !slices.Contains(strings.Fields(a.scopes), sc) {
			writeError(w, http.StatusBadRequest, "invalid_scope")
			return
		}
	}
	code, _ := s.AuthorizeCode(a.clientID)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!DOCTYPE html><html><body><p>Copy this authorization code and paste it into the application.</p><input class=\"oauth-code\" readonly type=\"text\" value=\"%s\"></body></html>", html.EscapeString(code))
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f := r.PostForm
	s.mu.Lock()
	a, ok := s.codes[f.Get("code")]
	if ok {
		delete(s.codes, f.Get("code"))
	}
	s.mu.Unlock()
	if f.Get("grant_type") != "authorization_code" || !ok || a.clientID != f.Get("client_id") || a.secret != f.Get("client_secret") || a.redirect != f.Get("redirect_uri") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}`)
		return
	}
	tok := randomHex(20)
	s.mu.Lock()
	s.tokens[tok] = strings.Fields(a.scopes)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "scope": a.scopes, "created_at": time.Now().Unix(),
	})
}

// revoke answers 200 with an empty object, whether or not the token
// existed, as Doorkeeper (RFC 7009) does; a wrong client is refused.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	a, ok := s.apps[r.PostForm.Get("client_id")]
	if ok && a.secret == r.PostForm.Get("client_secret") {
		delete(s.tokens, r.PostForm.Get("token"))
	}
	s.mu.Unlock()
	if !ok || a.secret != r.PostForm.Get("client_secret") {
		writeError(w, http.StatusForbidden, "unauthorized_client")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// TokenValid reports whether an access token is still accepted.
func (s *Server) TokenValid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tokens[tok]
	return ok
}

func (s *Server) instance(w http.ResponseWriter, r *http.Request) {
	var doc map[string]any
	if err := json.Unmarshal(instanceV2, &doc); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	u, _ := url.Parse(s.URL)
	doc["domain"] = u.Host
	if s.opts.Mode == GoToSocial {
		doc["version"] = "0.19.1 git-test"
		doc["source_url"] = "https://github.com/superseriousbusiness/gotosocial"
	}
	conf := doc["configuration"].(map[string]any)
	conf["statuses"] = map[string]any{
		"max_characters":              s.opts.MaxCharacters,
		"max_media_attachments":       4,
		"characters_reserved_per_url": s.ReservedPerURL(),
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) account() map[string]any {
	return map[string]any{
		"id": AccountID, "username": s.opts.Username, "acct": s.opts.Username,
		"display_name": "Events", "locked": false, "bot": true, "discoverable": true, "group": false,
		"created_at": "2024-01-01T00:00:00.000Z", "note": "", "url": s.URL + "/@" + s.opts.Username,
		"uri": s.URL + "/users/" + s.opts.Username, "avatar": "", "avatar_static": "", "header": "", "header_static": "",
		"followers_count": 0, "following_count": 0, "statuses_count": len(s.Statuses()), "emojis": []any{}, "fields": []any{},
	}
}

func (s *Server) verifyCredentials(w http.ResponseWriter, r *http.Request) {
	acc := s.account()
	acc["source"] = map[string]any{"privacy": s.defaultVisibility(), "sensitive": false, "language": "", "note": "", "fields": []any{}}
	writeJSON(w, http.StatusOK, acc)
}

func (s *Server) defaultVisibility() string {
	if s.opts.Mode == GoToSocial {
		return "unlisted"
	}
	return "public"
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// Length counts a status as the server does: characters, each URL counting
// as the reserved length whatever its own.
func (s *Server) Length(text string) int {
	n := utf8.RuneCountInString(text)
	for _, u := range urlRE.FindAllString(text, -1) {
		n += s.ReservedPerURL() - utf8.RuneCountInString(u)
	}
	return n
}

func (s *Server) checkText(w http.ResponseWriter, text string, media []string) bool {
	if strings.TrimSpace(text) == "" && len(media) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Text can't be blank")
		return false
	}
	if n := s.Length(text); n > s.opts.MaxCharacters {
		if s.opts.Mode == GoToSocial {
			// As GoToSocial (commit 57cb4fe7) words it.
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Bad Request: text with spoiler exceed max chars (%d)", s.opts.MaxCharacters))
		} else {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: Text character limit of %d exceeded", s.opts.MaxCharacters))
		}
		return false
	}
	return true
}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f := r.PostForm
	key := r.Header.Get("Idempotency-Key")
	if s.opts.Mode == Mastodon && key != "" {
		s.mu.Lock()
		var out map[string]any
		if id, seen := s.idem[key]; seen {
			for _, st := range s.statuses {
				if st.ID == id {
					out = s.render(st)
				}
			}
		}
		s.mu.Unlock()
		if out != nil {
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	st := &Status{
		Text: f.Get("status"), Visibility: f.Get("visibility"), Language: f.Get("language"),
		InReplyToID: f.Get("in_reply_to_id"), MediaIDs: f["media_ids[]"], CreatedAt: time.Now().UTC(),
	}
	if !s.checkText(w, st.Text, st.MediaIDs) {
		return
	}
	switch st.Visibility {
	case "":
		st.Visibility = s.defaultVisibility()
	case "public", "unlisted", "private", "direct":
	default:
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Visibility is not included in the list")
		return
	}
	s.mu.Lock()
	if st.InReplyToID != "" && !s.exists(st.InReplyToID) {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	for _, m := range st.MediaIDs {
		if _, ok := s.media[m]; !ok {
			s.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "Validation failed: media not found")
			return
		}
	}
	s.nextID++
	st.ID = strconv.FormatInt(s.nextID, 10)
	st.Idempotency = key
	s.statuses = append(s.statuses, st)
	if s.opts.Mode == Mastodon && key != "" {
		s.idem[key] = st.ID
	}
	hook := s.onCreate
	out := s.render(st)
	copied := *st
	s.mu.Unlock()
	if hook != nil {
		hook(copied)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) exists(id string) bool {
	for _, st := range s.statuses {
		if st.ID == id && !st.Deleted {
			return true
		}
	}
	return false
}

func (s *Server) find(w http.ResponseWriter, r *http.Request) *Status {
	id := r.PathValue("id")
	for _, st := range s.statuses {
		if st.ID == id && !st.Deleted {
			return st
		}
	}
	writeError(w, http.StatusNotFound, "Record not found")
	return nil
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.find(w, r); st != nil {
		writeJSON(w, http.StatusOK, s.render(st))
	}
}

func (s *Server) editStatus(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuseEdits {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	st := s.find(w, r)
	if st == nil {
		return
	}
	text, mediaIDs := r.PostForm.Get("status"), r.PostForm["media_ids[]"]
	if !s.checkText(w, text, mediaIDs) {
		return
	}
	// Mastodon drops attachments not listed again in media_ids[].
	st.Text, st.MediaIDs = text, mediaIDs
	if l := r.PostForm.Get("language"); l != "" {
		st.Language = l
	}
	st.EditedAt = time.Now().UTC()
	st.Edits++
	writeJSON(w, http.StatusOK, s.render(st))
}

func (s *Server) deleteStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(w, r)
	if st == nil {
		return
	}
	st.Deleted = true
	out := s.render(st)
	out["text"] = st.Text
	writeJSON(w, http.StatusOK, out)
}

// accountStatuses lists newest first, paginated by max_id with a Link
// header, replies included, as GET /api/v1/accounts/:id/statuses does.
func (s *Server) accountStatuses(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != AccountID {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 40)
	maxID, _ := strconv.ParseInt(q.Get("max_id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	var page []map[string]any
	var last string
	for i := len(s.statuses) - 1; i >= 0 && len(page) < limit; i-- {
		st := s.statuses[i]
		id, _ := strconv.ParseInt(st.ID, 10, 64)
		if st.Deleted || st.Author != nil || (maxID != 0 && id >= maxID) {
			continue
		}
		page = append(page, s.render(st))
		last = st.ID
	}
	if len(page) == limit {
		w.Header().Set("Link", fmt.Sprintf(`<%s/api/v1/accounts/%s/statuses?limit=%d&max_id=%s>; rel="next"`, s.URL, AccountID, limit, last))
	}
	if page == nil {
		page = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(16 << 20); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid, File is invalid")
		return
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid, File is invalid")
		return
	}
	data, _ := io.ReadAll(file)
	if ct := http.DetectContentType(data); !strings.HasPrefix(ct, "image/") {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid, File is invalid")
		return
	}
	s.mu.Lock()
	s.nextID++
	m := &media{id: strconv.FormatInt(s.nextID, 10), description: r.FormValue("description"), size: len(data)}
	s.media[m.id] = m
	s.mu.Unlock()
	if s.opts.Mode == GoToSocial {
		writeJSON(w, http.StatusOK, s.renderMedia(m, true))
		return
	}
	writeJSON(w, http.StatusAccepted, s.renderMedia(m, false))
}

func (s *Server) getMedia(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	m, ok := s.media[r.PathValue("id")]
	ready := ok && (s.opts.Mode == GoToSocial || m.polls >= s.opts.MediaPolls)
	if ok {
		m.polls++
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "Record not found")
	case !ready:
		writeJSON(w, http.StatusPartialContent, s.renderMedia(m, false))
	default:
		writeJSON(w, http.StatusOK, s.renderMedia(m, true))
	}
}

func (s *Server) renderMedia(m *media, ready bool) map[string]any {
	var doc map[string]any
	_ = json.Unmarshal(mediaDoc, &doc)
	doc["id"] = m.id
	doc["description"] = m.description
	doc["url"] = s.URL + "/media/" + m.id + "/original.png"
	doc["preview_url"] = s.URL + "/media/" + m.id + "/small.png"
	doc["text_url"] = s.URL + "/media/" + m.id
	if !ready {
		doc["url"] = nil
	}
	return doc
}

// render shapes a status as the Status entity (testdata/status.json).
func (s *Server) render(st *Status) map[string]any {
	var reply any
	if st.InReplyToID != "" {
		reply = st.InReplyToID
	}
	var edited any
	if !st.EditedAt.IsZero() {
		edited = st.EditedAt.Format("2006-01-02T15:04:05.000Z")
	}
	var lang any
	if st.Language != "" {
		lang = st.Language
	}
	account := map[string]any{"id": AccountID, "username": s.opts.Username, "acct": s.opts.Username, "url": s.URL + "/@" + s.opts.Username}
	content := Content(st.Text)
	if st.Author != nil {
		account = s.renderAuthor(st.Author)
		content = st.HTML
	}
	attachments := []any{}
	for _, id := range st.MediaIDs {
		if m, ok := s.media[id]; ok {
			attachments = append(attachments, s.renderMedia(m, true))
		}
	}
	return map[string]any{
		"id": st.ID, "created_at": st.CreatedAt.Format("2006-01-02T15:04:05.000Z"), "edited_at": edited,
		"in_reply_to_id": reply, "in_reply_to_account_id": nil, "sensitive": false, "spoiler_text": "",
		"visibility": st.Visibility, "language": lang,
		"uri": s.URL + "/users/" + s.opts.Username + "/statuses/" + st.ID, "url": s.URL + "/@" + s.opts.Username + "/" + st.ID,
		"replies_count": 0, "reblogs_count": 0, "favourites_count": 0, "favourited": false, "reblogged": false,
		"muted": false, "bookmarked": false, "content": content, "reblog": nil,
		"application":       map[string]any{"name": "passerelle", "website": nil},
		"account":           account,
		"media_attachments": attachments, "mentions": []any{}, "tags": []any{}, "emojis": []any{}, "card": nil, "poll": nil,
	}
}

// AddMention stores a status by another account that mentions the server's
// one, and the notification of it; it returns the status's id. The content
// is written as that account's server would: Mastodon's h-card mention
// (u-url mention) or GoToSocial's (mention), by the server's mode.
func (s *Server) AddMention(m Mention) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := m.Author
	if a.ID == "" {
		a.ID = "2" + strconv.Itoa(len(a.Username)) + randomDigits(16)
	}
	st := &Status{Text: m.Text, Visibility: "public", InReplyToID: m.InReplyToID, CreatedAt: time.Now().UTC(), Author: &a, HTML: m.HTML}
	if st.HTML == "" {
		class := "u-url mention"
		if s.opts.Mode == GoToSocial {
			class = "mention"
		}
		st.HTML = fmt.Sprintf(`<p><span class="h-card" translate="no"><a href="%s/@%s" class="%s">@<span>%s</span></a></span> %s</p>`,
			s.URL, s.opts.Username, class, s.opts.Username, strings.TrimPrefix(Content(m.Text), "<p>"))
		st.HTML = strings.Replace(st.HTML, "</p></p>", "</p>", 1)
	}
	s.nextID++
	st.ID = s.id(s.nextID)
	s.statuses = append(s.statuses, st)
	s.nextNote++
	s.notes = append(s.notes, notification{id: s.id(s.nextNote), statusID: st.ID})
	for ch := range s.streams {
		select {
		case ch <- s.notes[len(s.notes)-1].id:
		default:
		}
	}
	return st.ID
}

// Streams counts the notification streams open now.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// stream serves Mastodon's server-sent notification stream: a heartbeat
// comment every second, an "event: notification" per mention. GoToSocial
// streams over WebSocket only, so in its mode there is none (404).
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.opts.Mode == GoToSocial {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	ch := make(chan string, 16)
	s.mu.Lock()
	if s.streams == nil {
		s.streams = map[chan string]bool{}
	}
	s.streams[ch] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, ch)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	io.WriteString(w, ":)\n")
	flush()
	beat := time.NewTicker(time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			io.WriteString(w, ":thump\n")
		case id := <-ch:
			fmt.Fprintf(w, "event: notification\ndata: {\"id\":%q,\"type\":\"mention\"}\n\n", id)
		}
		flush()
	}
}

// DeleteMention deletes a mention's status, as its author would.
func (s *Server) DeleteMention(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.statuses {
		if st.ID == id && st.Author != nil {
			st.Deleted = true
		}
	}
}

// id is a status or notification id in the server's form: Mastodon's
// numbers, GoToSocial's ULIDs (26 characters, ordered as text).
func (s *Server) id(n int64) string {
	if s.opts.Mode == GoToSocial {
		return fmt.Sprintf("01HX%022d", n)
	}
	return strconv.FormatInt(n, 10)
}

func (s *Server) renderAuthor(a *Author) map[string]any {
	acct, base := a.Username, s.URL
	if a.Domain != "" {
		acct, base = a.Username+"@"+a.Domain, "https://"+a.Domain
	}
	doc := map[string]any{"id": a.ID, "username": a.Username, "acct": acct, "display_name": a.Username,
		"url": base + "/@" + a.Username, "bot": false, "locked": false}
	if s.opts.Mode == Mastodon {
		// Mastodon 4.2+ gives the ActivityPub id; GoToSocial only the url.
		doc["uri"] = base + "/users/" + a.Username
	}
	return doc
}

// compareIDs orders ids of either form.
func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// notifications answers GET /api/v1/notifications: mentions only (the one
// type the server makes), newest first; min_id gives the oldest page
// after it (forward paging), since_id and max_id the newest in range.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if types := q["types[]"]; len(types) > 0 && !slices.Contains(types, "mention") {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 40
	}
	limit = min(limit, 80)
	minID, sinceID, maxID := q.Get("min_id"), q.Get("since_id"), q.Get("max_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var in []notification
	for _, n := range s.notes {
		if (minID != "" && compareIDs(n.id, minID) <= 0) || (sinceID != "" && compareIDs(n.id, sinceID) <= 0) || (maxID != "" && compareIDs(n.id, maxID) >= 0) {
			continue
		}
		st := s.byID(n.statusID)
		if st == nil || st.Deleted {
			continue // a deleted status's notification goes with it
		}
		in = append(in, n)
	}
	if minID != "" && len(in) > limit {
		in = in[:limit] // the oldest after min_id
	} else if len(in) > limit {
		in = in[len(in)-limit:]
	}
	page := []map[string]any{}
	for i := len(in) - 1; i >= 0; i-- {
		st := s.byID(in[i].statusID)
		page = append(page, map[string]any{
			"id": in[i].id, "type": "mention", "created_at": st.CreatedAt.Format("2006-01-02T15:04:05.000Z"),
			"account": s.renderAuthor(st.Author), "status": s.render(st),
		})
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) byID(id string) *Status {
	for _, st := range s.statuses {
		if st.ID == id {
			return st
		}
	}
	return nil
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// Content renders status text as Mastodon's HTML: paragraphs, line breaks,
// and links whose href keeps the whole URL while the text is shortened.
func Content(text string) string {
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		b.WriteString("<p>")
		for i, line := range strings.Split(para, "\n") {
			if i > 0 {
				b.WriteString("<br />")
			}
			last := 0
			for _, loc := range urlRE.FindAllStringIndex(line, -1) {
				b.WriteString(html.EscapeString(line[last:loc[0]]))
				u := line[loc[0]:loc[1]]
				scheme, rest, _ := strings.Cut(u, "://")
				shown, hidden := rest, ""
				if len(rest) > 30 {
					shown, hidden = rest[:30], rest[30:]
				}
				fmt.Fprintf(&b, `<a href="%s" rel="nofollow noopener" translate="no" target="_blank"><span class="invisible">%s://</span><span class="ellipsis">%s</span><span class="invisible">%s</span></a>`,
					html.EscapeString(u), scheme, html.EscapeString(shown), html.EscapeString(hidden))
				last = loc[1]
			}
			b.WriteString(html.EscapeString(line[last:]))
		}
		b.WriteString("</p>")
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
