package config

import (
	"fmt"
	"strings"
	"time"
)

// Federation configures the ActivityPub side: who passerelle is and whom it
// federates with.
type Federation struct {
	// ActorName is the instance actor's preferredUsername.
	ActorName string `toml:"actor_name"`
	// Allow, when not empty, lists the only domains passerelle federates
	// with; Block lists domains it never contacts and whose requests it
	// refuses. A domain also matches its subdomains.
	Allow []string `toml:"allow"`
	Block []string `toml:"block"`
	// AllowPrivateNetworks lets every outbound client (ActivityPub,
	// Mastodon, media) reach loopback and private addresses, over plain
	// http too. For tests and closed networks only.
	AllowPrivateNetworks bool `toml:"allow_private_networks"`
	// SignatureWindow is how far a signed request's Date may be from now.
	SignatureWindow Duration `toml:"signature_window"`
	// LiveDuration is how long a PeerTube live is taken to last in the
	// calendars: PeerTube federates a scheduled live's start, never its
	// end or length.
	LiveDuration Duration `toml:"live_duration"`
}

func (f *Federation) validate() []error {
	var errs []error
	if f.ActorName == "" || strings.Trim(f.ActorName, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		errs = append(errs, &Error{Key: "federation.actor_name", Msg: fmt.Sprintf("want lower-case letters, digits and _, such as passerelle; got %q", f.ActorName)})
	}
	for _, list := range []struct {
		key     string
		domains []string
	}{{"federation.allow", f.Allow}, {"federation.block", f.Block}} {
		for _, d := range list.domains {
			if d == "" || strings.ContainsAny(d, "/: @") {
				errs = append(errs, &Error{Key: list.key, Msg: fmt.Sprintf("want bare domain names such as mobilizon.example; got %q", d)})
			}
		}
	}
	if w := time.Duration(f.SignatureWindow); w < time.Minute || w > 7*24*time.Hour {
		errs = append(errs, &Error{Key: "federation.signature_window", Msg: fmt.Sprintf("want between 1m and 168h; got %s", w)})
	}
	if d := time.Duration(f.LiveDuration); d < time.Minute || d > 48*time.Hour {
		errs = append(errs, &Error{Key: "federation.live_duration", Msg: fmt.Sprintf("want between 1m and 48h, such as 1h; got %s", d)})
	}
	return errs
}
