package main

import (
	"passerelle/bridges/gancio"
	"passerelle/bridges/generic"
	"passerelle/bridges/mobilizon"
	"passerelle/bridges/peertube"
	"passerelle/federation"
)

// dialects maps the software NodeInfo names (mobilizon, gancio, peertube)
// and "generic" (any other ActivityPub server) to the package that reads
// its event objects; an event whose software has no entry here and no
// "generic" entry is logged and skipped.
var dialects = map[string]federation.Dialect{
	"mobilizon": federation.DialectFunc(mobilizon.Decode),
	"gancio":    federation.DialectFunc(gancio.Decode),
	"peertube":  federation.DialectFunc(peertube.Decode),
	"generic":   federation.DialectFunc(generic.Decode),
}
