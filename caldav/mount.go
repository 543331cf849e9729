package caldav

import (
	"net/http"
	"strings"

	"codeberg.org/passerelle/passerelle/internal/metrics"
)

// MountOptions wire the calendars into passerelle's HTTP server.
type MountOptions struct {
	// EventPage serves /events/{name} when name is not <id>.ics (the web
	// package's event page). Go's mux cannot tell /events/{id} from
	// /events/{id}.ics, so one handler takes the path and hands over.
	EventPage http.Handler
	// OtherFeeds serves /feeds/{file} when file is not <slug>.ics (the web
	// package's Atom feeds, /feeds/<slug>.atom), for the same reason.
	OtherFeeds http.Handler
}

// Mount registers the CalDAV tree under /dav/, the discovery answers
// (/.well-known/caldav, PROPFIND and OPTIONS on /) and the .ics feeds.
func Mount(mux *http.ServeMux, dav *Server, feeds *Feeds, opts MountOptions) {
	mux.Handle(dav.prefix()+"/", metrics.Instrument("caldav", dav))
	// RFC 6764 §5: the well-known URI redirects to the context path. 308,
	// not 302: python-requests (python3-caldav) turns a 302 PROPFIND into
	// a GET, while a 307/308 keeps the method and body.
	//
	// A client that signs in (it sends credentials, as tsdav and DAVx⁵
	// do) goes to /dav/, its account; one without goes to "/", the public
	// calendars' discovery, which never asks for a password. The account's
	// own URL, /dav/, asks a client without credentials to sign in when it
	// asks who it is (see Server.authorize).
	mux.HandleFunc("/.well-known/caldav", func(w http.ResponseWriter, r *http.Request) {
		target := dav.rootPath()
		if _, _, ok := r.BasicAuth(); !ok && dav.Accounts != nil {
			target = "/"
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
	// Clients such as vdirsyncer start discovery with a PROPFIND on "/":
	// it gets the DAV answer for the root, and the web pages keep GET.
	root := func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = dav.rootPath()
		metrics.Instrument("caldav", dav).ServeHTTP(w, fromSiteRoot(r2))
	}
	mux.HandleFunc("PROPFIND /{$}", root)
	mux.HandleFunc("OPTIONS /{$}", root)
	mux.HandleFunc("GET /feeds/{file}", func(w http.ResponseWriter, r *http.Request) {
		if opts.OtherFeeds != nil && !strings.HasSuffix(r.PathValue("file"), ".ics") {
			opts.OtherFeeds.ServeHTTP(w, r)
			return
		}
		metrics.Instrument("feed", http.HandlerFunc(feeds.ServeFeed)).ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /events/{name}", func(w http.ResponseWriter, r *http.Request) {
		if feeds.ServeEvent(w, r, r.PathValue("name")) {
			return
		}
		if opts.EventPage != nil {
			opts.EventPage.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}
