package publish

import (
	"strings"

	"codeberg.org/passerelle/passerelle/bridges"
)

// windowsZones maps the Windows zone names that Outlook and Exchange
// write as TZID to IANA zones (the common ones, from CLDR's
// windowsZones.xml, territory 001).
var windowsZones = map[string]string{
	"UTC":                             "UTC",
	"GMT Standard Time":               "Europe/London",
	"Greenwich Standard Time":         "Atlantic/Reykjavik",
	"W. Europe Standard Time":         "Europe/Berlin",
	"Romance Standard Time":           "Europe/Paris",
	"Central Europe Standard Time":    "Europe/Budapest",
	"Central European Standard Time":  "Europe/Warsaw",
	"E. Europe Standard Time":         "Europe/Chisinau",
	"FLE Standard Time":               "Europe/Kiev",
	"GTB Standard Time":               "Europe/Bucharest",
	"Russian Standard Time":           "Europe/Moscow",
	"Turkey Standard Time":            "Europe/Istanbul",
	"Morocco Standard Time":           "Africa/Casablanca",
	"W. Central Africa Standard Time": "Africa/Lagos",
	"South Africa Standard Time":      "Africa/Johannesburg",
	"Eastern Standard Time":           "America/New_York",
	"Central Standard Time":           "America/Chicago",
	"Mountain Standard Time":          "America/Denver",
	"Pacific Standard Time":           "America/Los_Angeles",
	"Atlantic Standard Time":          "America/Halifax",
	"E. South America Standard Time":  "America/Sao_Paulo",
	"Argentina Standard Time":         "America/Buenos_Aires",
	"India Standard Time":             "Asia/Calcutta",
	"China Standard Time":             "Asia/Shanghai",
	"Tokyo Standard Time":             "Asia/Tokyo",
	"AUS Eastern Standard Time":       "Australia/Sydney",
	"New Zealand Standard Time":       "Pacific/Auckland",
}

// zoneName is the IANA zone a TZID stands for: an IANA name, a Windows
// name, or an IANA name behind a prefix (libical and Evolution write
// /freeassociation.sourceforge.net/Europe/Paris). ok is false for a TZID
// none of these.
func zoneName(tzid string) (name string, ok bool) {
	tzid = strings.Trim(strings.TrimSpace(tzid), `"`)
	if tzid == "" {
		return "", false
	}
	if _, err := bridges.LoadLocation(tzid); err == nil && !strings.HasPrefix(tzid, "/") {
		return tzid, true
	}
	if z, ok := windowsZones[tzid]; ok {
		return z, true
	}
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	for n := 3; n >= 2; n-- {
		if len(parts) > n {
			cand := strings.Join(parts[len(parts)-n:], "/")
			if _, err := bridges.LoadLocation(cand); err == nil {
				return cand, true
			}
		}
	}
	return "", false
}
