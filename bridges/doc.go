// Package bridges is passerelle's core: the event model that every protocol
// speaks (Event, Place, Source) and the flows that move events from the
// federated world into people's tools.
//
// It knows nothing of HTTP, XML, SMTP, iCalendar text or JSON-LD. Protocol
// packages (federation, caldav, mail, mastodon, web) translate to and from
// these types; storage and rendering are reached through the small
// interfaces declared here and implemented elsewhere (store, ical), wired in
// cmd/passerelle.
package bridges
