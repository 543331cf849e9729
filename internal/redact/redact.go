// Package redact hides secrets in URLs before they reach a message, a log
// line or `check-config`'s output.
package redact

import "net/url"

// URL replaces the password of a URL (user:pass@ → user:xxxxx@); a URL
// without one, or text that is no URL, comes back as it was.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return raw
}
