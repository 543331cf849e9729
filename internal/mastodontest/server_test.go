package mastodontest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	gomasto "github.com/mattn/go-mastodon"
)

func client(s *Server, tok string) *gomasto.Client {
	c := gomasto.NewClient(&gomasto.Config{Server: s.URL, AccessToken: tok})
	c.Client = http.Client{Timeout: 5 * time.Second}
	return c
}

func TestOAuthOutOfBand(t *testing.T) {
	for _, mode := range []Mode{Mastodon, GoToSocial} {
		t.Run(string(mode), func(t *testing.T) {
			s := New(t, Options{Mode: mode})
			ctx := context.Background()
			app, err := gomasto.RegisterApp(ctx, &gomasto.AppConfig{Server: s.URL, ClientName: "passerelle", Scopes: "read:accounts write:statuses"})
			if err != nil {
				t.Fatal(err)
			}
			if app.RedirectURI != "urn:ietf:wg:oauth:2.0:oob" {
				t.Errorf("redirect_uri = %q", app.RedirectURI)
			}
			resp, err := http.Get(app.AuthURI)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("authorize: %s", resp.Status)
			}
			code, _ := s.AuthorizeCode(app.ClientID)
			c := gomasto.NewClient(&gomasto.Config{Server: s.URL, ClientID: app.ClientID, ClientSecret: app.ClientSecret})
			if err := c.GetUserAccessToken(ctx, "wrong", app.RedirectURI); err == nil {
				t.Fatal("a wrong code was accepted")
			}
			if err := c.GetUserAccessToken(ctx, code, app.RedirectURI); err != nil {
				t.Fatal(err)
			}
			acc, err := c.GetAccountCurrentUser(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if acc.ID != AccountID || acc.Username != "events" {
				t.Errorf("verify_credentials = %+v", acc)
			}
			// The token carries only the scopes asked for.
			if _, err := c.UploadMediaFromBytes(ctx, pngBytes); !isStatus(err, 403) {
				t.Errorf("upload without write:media: %v, want 403", err)
			}
		})
	}
}

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

func isStatus(err error, code int) bool {
	var apiErr *gomasto.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == code
}

func TestModesDiffer(t *testing.T) {
	tests := []struct {
		mode       Mode
		tooLong    int
		visibility string
		idempotent bool
		mediaCode  int
	}{
		{Mastodon, 422, "public", true, 202},
		{GoToSocial, 400, "unlisted", false, 200},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			s := New(t, Options{Mode: tt.mode})
			c := client(s, s.Token())
			ctx := context.Background()

			st, err := c.PostStatus(ctx, &gomasto.Toot{Status: "hello https://example.org/a/very/long/link/that/counts/as/reserved/only"})
			if err != nil {
				t.Fatal(err)
			}
			if st.Visibility != tt.visibility {
				t.Errorf("default visibility = %q, want %q", st.Visibility, tt.visibility)
			}
			if !strings.Contains(st.Content, `href="https://example.org/a/very/long/link/that/counts/as/reserved/only"`) {
				t.Errorf("content lacks the link: %s", st.Content)
			}
			_, err = c.PostStatus(ctx, &gomasto.Toot{Status: strings.Repeat("é", 501)})
			if !isStatus(err, tt.tooLong) {
				t.Errorf("over-long status: %v, want %d", err, tt.tooLong)
			}
			// Exactly at the limit, with a URL counted as reserved.
			exact := strings.Repeat("x", 500-s.ReservedPerURL()-1) + " https://example.org/" + strings.Repeat("y", 60)
			if _, err := c.PostStatus(ctx, &gomasto.Toot{Status: exact}); err != nil {
				t.Errorf("status at the limit refused: %v", err)
			}

			// Idempotency-Key, set by hand since go-mastodon does not.
			post := func() string {
				req, _ := http.NewRequest("POST", s.URL+"/api/v1/statuses", strings.NewReader("status=same"))
				req.Header.Set("Authorization", "Bearer "+c.Config.AccessToken)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Idempotency-Key", "k1")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.Status
			}
			before := len(s.Statuses())
			post()
			post()
			want := 2
			if tt.idempotent {
				want = 1
			}
			if got := len(s.Statuses()) - before; got != want {
				t.Errorf("two posts with one Idempotency-Key made %d statuses, want %d", got, want)
			}

			att, err := c.UploadMediaFromMedia(ctx, &gomasto.Media{File: strings.NewReader(string(pngBytes)), Description: "alt"})
			if err != nil {
				t.Fatal(err)
			}
			if (att.URL == "") != (tt.mediaCode == 202) {
				t.Errorf("media url %q after upload answered %d", att.URL, tt.mediaCode)
			}
			if tt.mediaCode == 202 {
				if err := c.GetMediaStatus(ctx, att); !isStatus(err, 206) {
					t.Errorf("first poll: %v, want 206", err)
				}
			}
			if err := c.GetMediaStatus(ctx, att); err != nil {
				t.Errorf("media not ready: %v", err)
			}
			if s.MediaDescription(string(att.ID)) != "alt" {
				t.Errorf("alt text lost")
			}
		})
	}
}

func TestControls(t *testing.T) {
	s := New(t, Options{})
	c := client(s, s.Token())
	ctx := context.Background()
	st, err := c.PostStatus(ctx, &gomasto.Toot{Status: "one", Visibility: "public"})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.PostStatus(ctx, &gomasto.Toot{Status: "two", InReplyToID: st.ID})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.GetAccountStatuses(ctx, AccountID, &gomasto.Pagination{Limit: 1})
	if err != nil || len(list) != 1 || list[0].ID != reply.ID || list[0].InReplyToID != string(st.ID) {
		t.Fatalf("account statuses = %v, %v", list, err)
	}
	if _, err := c.UpdateStatus(ctx, &gomasto.Toot{Status: "one, edited"}, st.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Status(string(st.ID)); got.Text != "one, edited" || got.Edits != 1 {
		t.Errorf("after edit: %+v", got)
	}
	s.RefuseEdits(true)
	if _, err := c.UpdateStatus(ctx, &gomasto.Toot{Status: "x"}, st.ID); !isStatus(err, 404) {
		t.Errorf("refused edit: %v", err)
	}
	s.Fail("POST", "/api/v1/statuses", 503, 1, "")
	if _, err := c.PostStatus(ctx, &gomasto.Toot{Status: "x"}); !isStatus(err, 503) {
		t.Errorf("injected failure: %v", err)
	}
	if err := c.DeleteStatus(ctx, reply.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Statuses()); n != 1 {
		t.Errorf("%d statuses after delete, want 1", n)
	}
	s.RateLimit(1, time.Now().Add(time.Minute))
	hc := http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/accounts/verify_credentials", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Reset") == "" {
		t.Errorf("rate limited: %s reset %q", resp.Status, resp.Header.Get("X-RateLimit-Reset"))
	}
	s.RevokeTokens()
	if _, err := c.GetAccountCurrentUser(ctx); !isStatus(err, 401) {
		t.Errorf("revoked token: %v", err)
	}
}

// TestNotifications: mentions come as notifications in each server's
// shape, newest first, paged forward with min_id; a deleted reply's
// notification goes with it; the token needs read:notifications.
func TestNotifications(t *testing.T) {
	for _, mode := range []Mode{Mastodon, GoToSocial} {
		t.Run(string(mode), func(t *testing.T) {
			s := New(t, Options{Mode: mode})
			root, err := client(s, s.Token()).PostStatus(context.Background(), &gomasto.Toot{Status: "event"})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 5 {
				ids = append(ids, s.AddMention(Mention{Author: Author{Username: "bob", Domain: "social.example"}, Text: "going " + string(rune('a'+i)), InReplyToID: string(root.ID)}))
			}
			s.DeleteMention(ids[4])
			get := func(query string) []map[string]any {
				req, _ := http.NewRequest("GET", s.URL+"/api/v1/notifications?types[]=mention&"+query, nil)
				req.Header.Set("Authorization", "Bearer "+s.Token())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var page []map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
					t.Fatal(err)
				}
				return page
			}
			all := get("limit=40")
			if len(all) != 4 {
				t.Fatalf("%d notifications, want 4 (one reply deleted)", len(all))
			}
			first := all[0]["status"].(map[string]any)
			account := first["account"].(map[string]any)
			content := first["content"].(string)
			if first["in_reply_to_id"] != string(root.ID) || account["acct"] != "bob@social.example" || !strings.Contains(content, "going d") {
				t.Errorf("newest notification %v", all[0])
			}
			_, hasURI := account["uri"]
			if hasURI != (mode == Mastodon) || !strings.Contains(content, `class="h-card"`) {
				t.Errorf("%s shape: uri present %v, content %s", mode, hasURI, content)
			}
			page := get("limit=2&min_id=" + all[3]["id"].(string))
			if len(page) != 2 || page[0]["id"] != all[1]["id"] || page[1]["id"] != all[2]["id"] {
				t.Errorf("min_id page %v, want the two after the oldest, newest first", page)
			}
			// A token without read:notifications is refused.
			s.mu.Lock()
			s.tokens["narrow"] = []string{"read:statuses"}
			s.mu.Unlock()
			req, _ := http.NewRequest("GET", s.URL+"/api/v1/notifications", nil)
			req.Header.Set("Authorization", "Bearer narrow")
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
				t.Errorf("narrow token: %v %v", resp, err)
			}
		})
	}
}
