package main

import (
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/dialects"
)

// eventDialects maps each software name NodeInfo gives (and "generic", for
// any other ActivityPub server) to the dialect that reads its objects;
// liveDuration is federation.live_duration (PeerTube lives).
func eventDialects(liveDuration time.Duration) map[string]bridges.Dialect {
	m := map[string]bridges.Dialect{}
	for _, name := range []string{dialects.Mobilizon, dialects.Gancio, dialects.PeerTube, dialects.Generic} {
		m[name] = dialects.For(name, dialects.Options{LiveDuration: liveDuration})
	}
	return m
}
