package caldav

import (
	"context"
	"encoding/xml"
	"net/http"
	"strconv"
)

// The properties passerelle answers.
var (
	propResourceType            = xml.Name{Space: nsDAV, Local: "resourcetype"}
	propDisplayName             = xml.Name{Space: nsDAV, Local: "displayname"}
	propGetETag                 = xml.Name{Space: nsDAV, Local: "getetag"}
	propGetContentType          = xml.Name{Space: nsDAV, Local: "getcontenttype"}
	propGetContentLength        = xml.Name{Space: nsDAV, Local: "getcontentlength"}
	propGetLastModified         = xml.Name{Space: nsDAV, Local: "getlastmodified"}
	propCurrentUserPrincipal    = xml.Name{Space: nsDAV, Local: "current-user-principal"}
	propPrincipalURL            = xml.Name{Space: nsDAV, Local: "principal-URL"}
	propPrincipalCollectionSet  = xml.Name{Space: nsDAV, Local: "principal-collection-set"}
	propOwner                   = xml.Name{Space: nsDAV, Local: "owner"}
	propCurrentUserPrivilegeSet = xml.Name{Space: nsDAV, Local: "current-user-privilege-set"}
	propSupportedReportSet      = xml.Name{Space: nsDAV, Local: "supported-report-set"}
	propSyncToken               = xml.Name{Space: nsDAV, Local: "sync-token"}
	propCalendarHomeSet         = xml.Name{Space: nsCalDAV, Local: "calendar-home-set"}
	propCalendarDescription     = xml.Name{Space: nsCalDAV, Local: "calendar-description"}
	propSupportedComponentSet   = xml.Name{Space: nsCalDAV, Local: "supported-calendar-component-set"}
	propSupportedCalendarData   = xml.Name{Space: nsCalDAV, Local: "supported-calendar-data"}
	propCalendarData            = xml.Name{Space: nsCalDAV, Local: "calendar-data"}
	propCalendarUserAddressSet  = xml.Name{Space: nsCalDAV, Local: "calendar-user-address-set"}
	propScheduleInboxURL        = xml.Name{Space: nsCalDAV, Local: "schedule-inbox-URL"}
	propScheduleOutboxURL       = xml.Name{Space: nsCalDAV, Local: "schedule-outbox-URL"}
	propCalendarUserType        = xml.Name{Space: nsCalDAV, Local: "calendar-user-type"}
	propScheduleTag             = xml.Name{Space: nsCalDAV, Local: "schedule-tag"}
	propGetCTag                 = xml.Name{Space: nsCS, Local: "getctag"}
	propCalendarColor           = xml.Name{Space: nsApple, Local: "calendar-color"}
	propCalendarOrder           = xml.Name{Space: nsApple, Local: "calendar-order"}
)

// allProps are what an allprop PROPFIND (or an empty body) returns.
var allProps = map[resKind][]xml.Name{
	resRoot:      {propResourceType, propDisplayName, propCurrentUserPrincipal, propPrincipalCollectionSet},
	resPrincipal: {propResourceType, propDisplayName, propCurrentUserPrincipal, propPrincipalURL, propCalendarHomeSet},
	resHome:      {propResourceType, propDisplayName, propCurrentUserPrincipal, propOwner},
	resCalendar: {propResourceType, propDisplayName, propCalendarDescription, propGetCTag, propSyncToken,
		propSupportedComponentSet, propCalendarColor, propOwner},
	resObject: {propResourceType, propGetETag, propGetContentType, propGetLastModified, propGetContentLength},
	resInbox:  {propResourceType, propDisplayName, propOwner},
	resOutbox: {propResourceType, propDisplayName, propOwner},
}

// readPrivileges is the current-user-privilege-set of everything here:
// read only, so that clients mark calendars read-only instead of letting
// people edit and then failing.
const readPrivileges = "<d:privilege><d:read/></d:privilege><d:privilege><d:read-current-user-privilege-set/></d:privilege><d:privilege><c:read-free-busy/></d:privilege>"

// propRequest is what a PROPFIND or REPORT asks for.
type propRequest struct {
	names    []xml.Name
	all      bool
	nameOnly bool
}

func (p *propRequest) wantsData() bool {
	for _, n := range p.names {
		if n == propCalendarData || n == propGetContentLength {
			return true
		}
	}
	return false
}

// parsePropfind reads a DAV:propfind body; an empty body means allprop.
func parsePropfind(n *node) (*propRequest, error) {
	if n == nil {
		return &propRequest{all: true}, nil
	}
	if n.XMLName.Space != nsDAV || n.XMLName.Local != "propfind" {
		return nil, errorf(http.StatusBadRequest, "PROPFIND body must be a DAV:propfind element, not %s %s", n.XMLName.Space, n.XMLName.Local)
	}
	return propsOf(n), nil
}

// propsOf reads the DAV:prop / allprop / propname child of a request.
func propsOf(n *node) *propRequest {
	if p := n.child(nsDAV, "prop"); p != nil {
		req := &propRequest{}
		for _, c := range p.Children {
			req.names = append(req.names, c.XMLName)
		}
		return req
	}
	if n.child(nsDAV, "propname") != nil {
		return &propRequest{all: true, nameOnly: true}
	}
	return &propRequest{all: true}
}

// collectionProp returns the inner XML of a property of the root, a
// principal, a home or a calendar, and whether it is defined there.
func (s *Server) collectionProp(ctx context.Context, res *resource, n xml.Name) (string, bool, error) {
	principal := s.principalPath(PublicOwner)
	if res.owner != "" {
		principal = s.principalPath(res.owner)
	}
	switch n {
	case propResourceType:
		switch res.kind {
		case resPrincipal:
			return "<d:collection/><d:principal/>", true, nil
		case resCalendar:
			return "<d:collection/><c:calendar/>", true, nil
		case resInbox:
			return "<d:collection/><c:schedule-inbox/>", true, nil
		case resOutbox:
			return "<d:collection/><c:schedule-outbox/>", true, nil
		}
		return "<d:collection/>", true, nil
	case propCurrentUserPrincipal:
		return hrefXML(principal), true, nil
	case propPrincipalCollectionSet:
		return hrefXML(s.prefix() + "/principals/"), true, nil
	case propCurrentUserPrivilegeSet:
		switch {
		case res.kind == resCalendar && res.owner == AccountOwner:
			return accountCalendarPrivileges, true, nil
		case res.kind == resOutbox:
			return outboxPrivileges, true, nil
		}
		return readPrivileges, true, nil
	case propDisplayName:
		switch res.kind {
		case resRoot:
			return "passerelle", true, nil
		case resPrincipal, resHome:
			if who, ok := whoFrom(ctx); ok && res.owner == AccountOwner {
				return xmlText(who.address), true, nil
			}
			return xmlText(ownerName(res.owner)), true, nil
		case resInbox:
			return "Inbox", true, nil
		case resOutbox:
			return "Outbox", true, nil
		case resCalendar:
			return xmlText(res.cal.Name), true, nil
		}
	case propSupportedReportSet:
		switch res.kind {
		case resCalendar:
			return "<d:supported-report><d:report><c:calendar-query/></d:report></d:supported-report>" +
				"<d:supported-report><d:report><c:calendar-multiget/></d:report></d:supported-report>" +
				"<d:supported-report><d:report><d:sync-collection/></d:report></d:supported-report>", true, nil
		}
		return "", true, nil
	}
	if res.kind == resPrincipal || res.kind == resHome || res.kind == resCalendar || res.kind == resInbox || res.kind == resOutbox {
		switch n {
		case propPrincipalURL, propOwner:
			return hrefXML(principal), true, nil
		case propCalendarHomeSet:
			if res.kind == resPrincipal {
				return hrefXML(s.homePath(res.owner)), true, nil
			}
		case propCalendarUserAddressSet:
			if res.kind == resPrincipal {
				// The signed-in participant's address: how calendar apps
				// know that the ATTENDEE line in each event is them.
				if who, ok := whoFrom(ctx); ok && res.owner == AccountOwner {
					return hrefXML("mailto:" + who.address), true, nil
				}
				return "", true, nil
			}
		case propScheduleInboxURL, propScheduleOutboxURL, propCalendarUserType:
			if res.kind == resPrincipal && res.owner == AccountOwner {
				switch n {
				case propScheduleInboxURL:
					return hrefXML(s.homePath(AccountOwner) + inboxSlug + "/"), true, nil
				case propScheduleOutboxURL:
					return hrefXML(s.homePath(AccountOwner) + outboxSlug + "/"), true, nil
				}
				return "INDIVIDUAL", true, nil
			}
		}
	}
	if res.kind != resCalendar {
		return "", false, nil
	}
	switch n {
	case propCalendarDescription:
		if res.cal.Description == "" {
			return "", false, nil
		}
		return xmlText(res.cal.Description), true, nil
	case propSupportedComponentSet:
		return `<c:comp name="VEVENT"/>`, true, nil
	case propSupportedCalendarData:
		return `<c:calendar-data content-type="text/calendar" version="2.0"/>`, true, nil
	case propCalendarColor:
		if res.cal.Color == "" {
			return "", false, nil
		}
		// Apple's #RRGGBBAA form: clients that want #RRGGBB accept it too.
		return xmlText(res.cal.Color + "FF"), true, nil
	case propCalendarOrder:
		return "0", true, nil
	case propGetCTag, propSyncToken:
		st, err := s.state(ctx, res)
		if err != nil {
			return "", false, err
		}
		if n == propGetCTag {
			return strconv.FormatInt(st.Seq, 10), true, nil
		}
		return xmlText(syncToken(st.Seq)), true, nil
	}
	return "", false, nil
}

func (s *Server) state(ctx context.Context, res *resource) (State, error) {
	if res.state == nil {
		st, err := s.Store.State(ctx, res.cal)
		if err != nil {
			return State{}, err
		}
		res.state = &st
	}
	return *res.state, nil
}

func ownerName(owner string) string {
	if owner == PublicOwner {
		return "Followed events"
	}
	return "Personal calendars"
}
