package main

import (
	"passerelle/bridges/dialects"
	"passerelle/federation"
)

// eventDialects maps each software name NodeInfo gives (and "generic", for
// any other ActivityPub server) to the dialect that reads its objects.
func eventDialects() map[string]federation.Dialect {
	m := map[string]federation.Dialect{}
	for _, name := range []string{dialects.Mobilizon, dialects.Gancio, dialects.PeerTube, dialects.Generic} {
		m[name] = dialects.For(name, dialects.Options{})
	}
	return m
}
