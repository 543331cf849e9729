package web

import "github.com/microcosm-cc/bluemonday"

// policy is applied again at display time, whatever the dialects already
// did: the pages never trust stored HTML.
var policy = bluemonday.UGCPolicy()

func sanitize(html string) string { return policy.Sanitize(html) }
