package bridges

import (
	"fmt"
	"strings"
)

// Answer is what someone said to an invitation.
type Answer string

// The answers a person can give, as calendars spell them in PARTSTAT
// (ACCEPTED, DECLINED, TENTATIVE) and as a plain "yes", "no" or "maybe".
const (
	AnswerAccepted  Answer = "accepted"
	AnswerDeclined  Answer = "declined"
	AnswerTentative Answer = "tentative"
)

// ParseAnswer reads a calendar PARTSTAT; NEEDS-ACTION, DELEGATED and the
// like are no answer and give an error.
func ParseAnswer(partstat string) (Answer, error) {
	switch strings.ToUpper(strings.TrimSpace(partstat)) {
	case "ACCEPTED":
		return AnswerAccepted, nil
	case "DECLINED":
		return AnswerDeclined, nil
	case "TENTATIVE":
		return AnswerTentative, nil
	}
	return "", fmt.Errorf("participation status %q is no answer (want ACCEPTED, DECLINED or TENTATIVE)", partstat)
}

// CalendarAnswer is one answer found in a calendar reply: the event's UID,
// the attendee who answered and what they said.
type CalendarAnswer struct {
	UID      string
	Attendee string
	Answer   Answer
}

// Reply is an incoming answer to an invitation, as the mail package read
// it; the RSVP flow decides whether it counts.
type Reply struct {
	// MessageID identifies the reply (for the log and to ignore a replay).
	MessageID string
	// From is the sender's address.
	From string
	// Tokens are the reply tokens found in the recipient addresses
	// (local+r-TOKEN@domain).
	Tokens []string
	// References are the Message-IDs the reply answers (In-Reply-To and
	// References): a client that dropped the plus-address still threads.
	References []string
	// Calendar holds the answers of an iTIP REPLY, if the mail had one.
	Calendar []CalendarAnswer
	// Text is the answer read from the first non-quoted line of the text,
	// empty when it said none. It is not set for automatic mail.
	Text Answer
}
