package caldav_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/caldav"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/store"
)

// TestFeedOnDisk: a feed larger than MaxMemoryFeed (here every feed) is
// built row by row into temporary files and served from there, byte for
// byte the feed built in memory, in both its forms, with its validators;
// it is not kept in the database (a row of hundreds of megabytes), and a
// change gives the new feed.
func TestFeedOnDisk(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		env, stored := loaded(t, db)
		_, want := do(t, "GET", env.URL+"/feeds/all.ics", "")
		if strings.Count(want, "BEGIN:VEVENT") != 5 {
			t.Fatalf("reference feed:\n%s", want)
		}
		// The reference was kept in the database; the disk feeds must not
		// find it there (and must not keep theirs).
		if _, err := storetest.Exec(db, "DELETE FROM calendar_feeds"); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		tmp := filepath.Join(t.TempDir(), "made-when-needed")
		feeds := &caldav.Feeds{Store: &caldav.DBStore{DB: db}, PublicURL: env.URL, MaxMemoryFeed: 1, TempDir: tmp}
		mux.HandleFunc("GET /feeds/{file}", feeds.ServeFeed)
		mux.HandleFunc("HEAD /feeds/{file}", feeds.ServeFeed)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		get := func(method string, hdr ...string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+"/feeds/all.ics", nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}
		resp, body := get("GET")
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("feed from disk: %d, differs from the one built in memory:\n%s", resp.StatusCode, body)
		}
		resp, gz := get("GET", "Accept-Encoding", "gzip")
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("gzip form: %v %v", resp.Header, err)
		}
		if plain, _ := io.ReadAll(zr); string(plain) != want {
			t.Error("the gzip form from disk is not the feed")
		}
		resp, _ = get("HEAD")
		if resp.ContentLength != int64(len(want)) {
			t.Errorf("HEAD Content-Length %d, want %d", resp.ContentLength, len(want))
		}
		if resp, _ := get("GET", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != 304 {
			t.Errorf("conditional GET: %d", resp.StatusCode)
		}
		// The files are unlinked as soon as made: nothing is left in the
		// folder, whatever happens to the process.
		if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
			t.Errorf("files left in the feeds' folder: %v %v", left, err)
		}
		var kept int
		if err := storetest.QueryRow(db, "SELECT COUNT(*) FROM calendar_feeds").Scan(&kept); err != nil || kept != 0 {
			t.Errorf("%d feeds kept in the database (%v), want none for a feed on disk", kept, err)
		}
		// A change: the new feed, while the old one's files go with it
		// (closed once unreferenced).
		ev := stored["boundary"].Event
		ev.Title = "Renamed on disk"
		ev.Updated = ev.Updated.Add(1e9)
		env.Apply(t, ev)
		runtime.GC()
		if _, body := get("GET"); !bytes.Contains(body, []byte("SUMMARY:Renamed on disk")) {
			t.Error("the feed on disk did not change with the event")
		}
	})
}
