package main

import "passerelle/federation"

// dialects maps the software NodeInfo names (mobilizon, gancio, peertube)
// and "generic" (any other ActivityPub server) to the package that reads
// its event objects. The bridges/<dialect> packages are added here as they
// land on main (issue 4, Dialects); an event whose software has no entry
// here and no "generic" entry is logged and skipped.
var dialects = map[string]federation.Dialect{}
