package media

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/internal/outbound"
	"codeberg.org/passerelle/passerelle/internal/storetest"
	"codeberg.org/passerelle/passerelle/internal/wait"
	"codeberg.org/passerelle/passerelle/store"
)

// TestEventImagesFetchedAndServed stores events through the event flow
// with the media listener, runs the job workers, and checks that the
// good images come to be served from /media/<hash> and the bad ones
// never do, on both backends.
func TestEventImagesFetchedAndServed(t *testing.T) {
	good := samplePNG(t, 30, 20)
	remote := imageServer(t, map[string][]byte{
		"/banner.png": good,
		"/inline.png": samplePNG(t, 4, 4),
		"/evil.png":   []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
		"/bomb.png":   pngHeader(20000, 20000),
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cache := &Cache{DB: db, Fetcher: &Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true, Timeout: 5 * time.Second}), AllowPrivate: true}}
		workers := river.NewWorkers()
		expire := cache.Register(workers, time.Hour)
		stop, err := db.StartJobs(ctx, store.Jobs{Workers: workers, Periodic: []*river.PeriodicJob{expire}, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer stop(ctx)
		flow := &bridges.Events[*store.Tx]{Store: db, Listeners: []bridges.ChangeListener[*store.Tx]{Listener{}}}
		apply := func(id, banner, desc string) {
			t.Helper()
			if _, err := flow.Apply(ctx, bridges.Event{APID: "https://m.test/e/" + id, Title: id, Start: time.Now().Add(48 * time.Hour),
				Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, Public: true, BannerURL: banner, DescriptionHTML: desc}, nil); err != nil {
				t.Fatal(err)
			}
		}
		apply("good", remote.URL+"/banner.png", `<p>Look <img src="`+remote.URL+`/inline.png" alt="x"> here</p>`)
		apply("svg", remote.URL+"/evil.png", "")
		apply("bomb", remote.URL+"/bomb.png", "")
		apply("gone", remote.URL+"/gone.png", "")
		// The same banner for a second event is fetched once.
		apply("again", remote.URL+"/banner.png", "")

		mux := http.NewServeMux()
		mux.Handle("GET /media/{hash}", cache)
		site := httptest.NewServer(mux)
		defer site.Close()

		all := []string{remote.URL + "/banner.png", remote.URL + "/inline.png", remote.URL + "/evil.png", remote.URL + "/bomb.png", remote.URL + "/gone.png"}
		wait.For(t, 10*time.Second, "the fetch jobs to finish", func() bool {
			counts, err := db.JobCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			done := 0
			for _, c := range counts {
				if c.Kind == "media_fetch" && (c.State == "completed" || c.State == "cancelled") {
					done += c.Count
				}
			}
			return done == 5
		})
		links, err := cache.Links(ctx, all...)
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 2 || links[remote.URL+"/banner.png"] != "/media/"+Key(remote.URL+"/banner.png") || links[remote.URL+"/inline.png"] == "" {
			t.Fatalf("cached: %v", links)
		}

		resp, err := http.Get(site.URL + links[remote.URL+"/banner.png"])
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || !bytes.Equal(body, good) || h.Get("Content-Type") != "image/png" ||
			h.Get("Cache-Control") != "public, max-age=31536000, immutable" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET banner: %d %v (%d bytes)", resp.StatusCode, h, len(body))
		}
		for _, p := range []string{Path(remote.URL + "/evil.png"), Path(remote.URL + "/bomb.png"), "/media/" + strings.Repeat("0", 64), "/media/nothex"} {
			resp, err := http.Get(site.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
			}
		}
	})
}

func TestRewriteImages(t *testing.T) {
	links := map[string]string{"https://a.test/ok.png": "/media/abc"}
	got, err := RewriteImages(`<p>One <img src="https://a.test/ok.png" srcset="https://a.test/big.png 2x" alt="ok"> two <img src="https://b.test/no.png" alt="no"> three</p>`, links)
	if err != nil {
		t.Fatal(err)
	}
	want := `<p>One <img src="/media/abc" alt="ok"> two  three</p>`
	if got != want {
		t.Errorf("RewriteImages =\n%s\nwant\n%s", got, want)
	}
	got, err = LinkImages(`<img src="https://a.test/x.png" alt="x"><img src="/relative.png"><img src="data:image/png;base64,AA">`, "https://p.example")
	if err != nil || got != `<img src="https://p.example`+Path("https://a.test/x.png")+`" alt="x">` {
		t.Errorf("LinkImages = %q, %v", got, err)
	}
	ev := &bridges.Event{BannerURL: "https://a.test/b.png", DescriptionHTML: `<img src="https://a.test/b.png"><IMG SRC="https://c.test/x.gif"><img src="data:image/png;base64,AA">`}
	if got := EventImages(ev); len(got) != 2 || got[0] != "https://a.test/b.png" || got[1] != "https://c.test/x.gif" {
		t.Errorf("EventImages = %v", got)
	}
}

// TestImageFetchesOnceForJobs: a job that needs an image not cached yet
// (the Mastodon upload racing the fetch job) fetches and keeps it; the
// next use reads the cache.
func TestImageFetchesOnceForJobs(t *testing.T) {
	hits := 0
	body := samplePNG(t, 8, 8)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write(body)
	}))
	defer remote.Close()
	cache := &Cache{DB: storetest.New(t), Fetcher: &Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true}), AllowPrivate: true}}
	for range 2 {
		b, typ, err := cache.Image(context.Background(), remote.URL+"/b.png")
		if err != nil || typ != "image/png" || !bytes.Equal(b, body) {
			t.Fatalf("Image = %d bytes, %q, %v", len(b), typ, err)
		}
	}
	if hits != 1 {
		t.Errorf("the image's server was asked %d times, want once", hits)
	}
	if _, _, err := (&Cache{DB: cache.DB}).Image(context.Background(), remote.URL+"/other.png"); err == nil {
		t.Error("a cache without a fetcher gave an image it does not have")
	}
}

// TestSweepLinksEventsStoredBefore: events stored before passerelle kept
// images (no listener ran) get their images linked and fetched by the
// periodic job, so an upgrade does not leave their banners out for good.
func TestSweepLinksEventsStoredBefore(t *testing.T) {
	remote := imageServer(t, map[string][]byte{"/old.png": samplePNG(t, 10, 10)})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old := &bridges.StoredEvent{Event: bridges.Event{APID: "https://m.test/e/old", Title: "Stored before", Start: time.Now().Add(24 * time.Hour),
			Status: bridges.StatusConfirmed, JoinMode: bridges.JoinFree, BannerURL: remote.URL + "/old.png"}}
		if err := db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error { return tx.SaveEvent(ctx, old) }); err != nil {
			t.Fatal(err)
		}
		cache := &Cache{DB: db, Fetcher: &Fetcher{Client: outbound.New(outbound.Options{AllowPrivateNetworks: true, Timeout: 5 * time.Second}), AllowPrivate: true}}
		workers := river.NewWorkers()
		sweep := cache.Register(workers, time.Hour)
		stop, err := db.StartJobs(ctx, store.Jobs{Workers: workers, Periodic: []*river.PeriodicJob{sweep}, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer stop(ctx)
		wait.For(t, 15*time.Second, "the old event's banner to be cached", func() bool {
			links, err := cache.Links(ctx, old.BannerURL)
			return err == nil && links[old.BannerURL] != ""
		})
		if evs, err := db.EventsWithoutMedia(ctx, time.Now().Add(-Keep), 10); err != nil || len(evs) != 0 {
			t.Errorf("after the sweep, events without images linked: %v, %v", evs, err)
		}
	})
}
