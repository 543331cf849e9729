package bridges

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
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

// Participant is a person passerelle knows only by an email address, or
// only by the fediverse account they answered from. The address (or the
// account) stays in passerelle: the federated world sees the participant's
// pseudonymous actor, never the address (not in logs above debug either).
type Participant struct {
	ID int64
	// Address is the invited mail address, as first given; empty for a
	// fediverse participant.
	Address string
	// Fediverse is the URI of the fediverse account a participant
	// answered from (a reply under an event's post); empty for mail.
	Fediverse string
	// ActorID is the participant's row in local_actors (a Person with its
	// own key), created on the first Join; 0 before.
	ActorID int64
	// DisplayName is what the actor is called: a neutral name unless the
	// participant chose one.
	DisplayName string
	// CalendarToken opens the participant's personal calendar.
	CalendarToken string
	// Unsubscribed addresses get no mail at all, whatever happens.
	Unsubscribed bool
	CreatedAt    time.Time
}

// ParticipationState is where one participant stands with one event.
type ParticipationState string

// The states of an invitation. Joining, Pending and Unconfirmed all mean
// a Join was sent: Joining while passerelle waits for the Accept,
// Unconfirmed once the wait is over without one (Mobilizon sends none for
// a free group event without a local moderator), Pending for events whose
// organisers approve each participant.
const (
	StateInvited     ParticipationState = "invited"
	StateJoining     ParticipationState = "joining"
	StateUnconfirmed ParticipationState = "unconfirmed"
	StatePending     ParticipationState = "pending"
	StateJoined      ParticipationState = "joined"
	StateRejected    ParticipationState = "rejected"
	StateDeclined    ParticipationState = "declined"
	StateLeft        ParticipationState = "left"
	StateTentative   ParticipationState = "tentative"
	StateFull        ParticipationState = "full"
	StateExternal    ParticipationState = "external"
)

// Joined reports whether a Join stands for the participant (sent and
// not left or rejected).
func (s ParticipationState) Joined() bool {
	switch s {
	case StateJoining, StateUnconfirmed, StatePending, StateJoined:
		return true
	}
	return false
}

// Invitation is one participant invited to one event, and where their
// participation stands. Reply tokens (stored hashed, one per mail sent)
// point at it.
type Invitation struct {
	ID            int64
	ParticipantID int64
	EventID       int64
	State         ParticipationState
	// JoinID is the id of the Join activity sent for it, empty before.
	JoinID string
	// Thread is the Message-ID of the first mail about the event, which
	// every later one refers to.
	Thread     string
	AnsweredAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Notice is a mail the RSVP flow asks to be sent to a participant.
type Notice string

// The notices, one per kind of mail (see package mail for their text).
const (
	NoticeInvitation  Notice = "invitation"
	NoticeUpdate      Notice = "update"
	NoticeCancel      Notice = "cancel"
	NoticeJoined      Notice = "joined"
	NoticePending     Notice = "pending"
	NoticeUnconfirmed Notice = "unconfirmed"
	NoticeRejected    Notice = "rejected"
	NoticeFull        Notice = "full"
	NoticeExternal    Notice = "external"
	NoticeMaybe       Notice = "maybe"
	NoticeLeft        Notice = "left"
)

// HashToken is how reply tokens are stored: a database that leaks gives
// no token that would let anyone answer for someone else.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken makes a secret for a link or a reply address: 128 random bits,
// in lower-case base32 so that it survives addresses being lower-cased on
// the way back.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// RSVPTx is a transaction with the storage the RSVP flow needs.
type RSVPTx interface {
	Tx
	EventByID(ctx context.Context, id int64) (*StoredEvent, error)
	// ParticipantByAddress matches the address case-insensitively; it
	// never finds a fediverse participant.
	ParticipantByAddress(ctx context.Context, address string) (*Participant, error)
	// ParticipantByFediverse finds the participant of a fediverse account
	// by its URI.
	ParticipantByFediverse(ctx context.Context, uri string) (*Participant, error)
	ParticipantByID(ctx context.Context, id int64) (*Participant, error)
	// SaveParticipant inserts (ID 0, setting it) or updates.
	SaveParticipant(ctx context.Context, p *Participant) error
	// InvitationByTokenHash finds the invitation a reply token was sent for.
	InvitationByTokenHash(ctx context.Context, hash string) (*Invitation, error)
	// InvitationByMessageID finds the invitation a sent mail was about.
	InvitationByMessageID(ctx context.Context, messageID string) (*Invitation, error)
	InvitationByJoinID(ctx context.Context, joinID string) (*Invitation, error)
	InvitationByID(ctx context.Context, id int64) (*Invitation, error)
	InvitationFor(ctx context.Context, participantID, eventID int64) (*Invitation, error)
	// InvitationsOfEvent lists an event's invitations with an id above
	// after, by id, at most limit of them (0: all).
	InvitationsOfEvent(ctx context.Context, eventID, after int64, limit int) ([]*Invitation, error)
	// SaveInvitation inserts (ID 0, setting it) or updates.
	SaveInvitation(ctx context.Context, inv *Invitation) error
	// FirstSeen records an incoming Message-ID and reports whether it was
	// new: a replayed mail changes nothing.
	FirstSeen(ctx context.Context, messageID string) (bool, error)
	// RotateCalendarToken makes token the participant's only personal
	// calendar token (Participant.CalendarToken): older links stop
	// working.
	RotateCalendarToken(ctx context.Context, participantID int64, token string) error

	// Who asked for every event of a source (a mail to
	// local+join-SLUG@domain).
	SourceBySlug(ctx context.Context, slug string) (*Source, error)
	// UpcomingPublicEvents lists a source's public events, not drafts,
	// cancelled or deleted, and not over at now.
	UpcomingPublicEvents(ctx context.Context, sourceID int64, now time.Time) ([]int64, error)
	Subscribe(ctx context.Context, participantID, sourceID int64) error
	// SubscribersOf lists the addresses subscribed to a source.
	SubscribersOf(ctx context.Context, sourceID int64) ([]string, error)

	// The calendar account's password.
	CalendarAccountTx

	// Erasing a participant lists and removes their rows.
	InvitationsOfParticipant(ctx context.Context, participantID int64) ([]*Invitation, error)
	DeleteParticipant(ctx context.Context, id int64) error
}

// Participator speaks for participants on the federated side (package
// federation implements it): a signed Join or Leave from the
// participant's own actor, delivered by a durable job enqueued in tx.
type Participator[T Tx] interface {
	// Join creates the participant's actor on first use (setting
	// p.ActorID; the caller saves p) and returns the Join's id.
	Join(ctx context.Context, tx T, p *Participant, ev *StoredEvent) (joinID string, err error)
	Leave(ctx context.Context, tx T, p *Participant, ev *StoredEvent, joinID string) error
}

// Mailer sends a notice to a participant about an invitation, as a
// durable job enqueued in tx (package mail implements it).
type Mailer interface {
	Notify(ctx context.Context, tx Tx, inv *Invitation, n Notice) error
}

// ConfirmCheckJob looks, once the wait for an Accept is over, whether the
// home server answered a Join; package mail runs it (RSVP.CheckConfirmation).
type ConfirmCheckJob struct {
	InvitationID int64  `json:"invitation_id"`
	JoinID       string `json:"join_id"`
}

// Kind names the job.
func (ConfirmCheckJob) Kind() string { return "rsvp_confirm_check" }

// RSVP is the flow from an invitation to a participation: who is invited,
// what their answers do on the federated side, and which mail tells them.
type RSVP[T RSVPTx] struct {
	Store        Store[T]
	Participator Participator[T]
	// Mailer tells mail participants; nil when mail is not configured.
	Mailer Mailer
	// Fediverse tells participants who answered from the fediverse, in a
	// direct reply (package mastodon implements it); nil drops their
	// notices.
	Fediverse Mailer
	Log       *slog.Logger
	// Passwords makes calendar passwords; nil when calendar accounts are
	// not set up (tests of other parts, no mail).
	Passwords *CalendarPasswords
	// ConfirmWait is how long a Join may go unanswered before the
	// participant is told it was delivered but not confirmed; 0 means 2
	// minutes.
	ConfirmWait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var (
	_ JoinAnswerListener[RSVPTx] = (*RSVP[RSVPTx])(nil)
	_ ChangeListener[RSVPTx]     = (*RSVP[RSVPTx])(nil)
)

func (r *RSVP[T]) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *RSVP[T]) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ErrUnsubscribed is returned when inviting an address that asked for no
// more mail.
var ErrUnsubscribed = errors.New("address unsubscribed from all mail")

// Invite invites an address to events: one invitation, and one
// invitation mail, per event it was not yet invited to. It returns the
// ids of the invitations created. An unsubscribed address gets nothing.
func (r *RSVP[T]) Invite(ctx context.Context, address string, eventIDs []int64) ([]int64, error) {
	res, err := r.InviteReport(ctx, address, eventIDs)
	return res.Created, err
}

// Uninvited is an event that an address got no invitation to, and why.
type Uninvited struct {
	EventID int64
	// Reason is "already invited", "cancelled", "over" or "deleted".
	Reason string
}

// InviteResult is what an invitation run did for one address: the
// invitations created, and the events it was not invited to with why.
type InviteResult struct {
	Created []int64
	Skipped []Uninvited
}

// InviteReport is Invite that also says, per event, why no invitation
// was created, so that an admin who sees "0 queued" learns why.
func (r *RSVP[T]) InviteReport(ctx context.Context, address string, eventIDs []int64) (InviteResult, error) {
	address = strings.TrimSpace(address)
	if !strings.Contains(address, "@") {
		return InviteResult{}, fmt.Errorf("invite %q: not a mail address", address)
	}
	if r.Mailer == nil {
		return InviteResult{}, errors.New("invite: mail is not configured (mail.smtp and mail.from)")
	}
	var res InviteResult
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		res = InviteResult{}
		return r.inviteReport(ctx, tx, address, eventIDs, &res)
	})
	return res, err
}

// invite is Invite inside a transaction.
func (r *RSVP[T]) invite(ctx context.Context, tx T, address string, eventIDs []int64) ([]int64, error) {
	var res InviteResult
	err := r.inviteReport(ctx, tx, address, eventIDs, &res)
	return res.Created, err
}

// inviteReport is InviteReport inside a transaction.
func (r *RSVP[T]) inviteReport(ctx context.Context, tx T, address string, eventIDs []int64, res *InviteResult) error {
	p, err := tx.ParticipantByAddress(ctx, address)
	switch {
	case errors.Is(err, ErrNotFound):
		p = &Participant{Address: address, CreatedAt: r.now()}
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return fmt.Errorf("save participant: %w", err)
		}
	case err != nil:
		return err
	case p.Unsubscribed:
		return ErrUnsubscribed
	}
	for _, id := range eventIDs {
		ev, err := tx.EventByID(ctx, id)
		if err != nil {
			return fmt.Errorf("invite to event %d: %w", id, err)
		}
		skip := func(reason string) { res.Skipped = append(res.Skipped, Uninvited{EventID: id, Reason: reason}) }
		switch {
		case ev.Deleted:
			skip("deleted")
			continue
		case ev.Status == StatusCancelled:
			skip("cancelled")
			continue
		case ev.Over(r.now()):
			skip("over")
			continue
		}
		if _, err := tx.InvitationFor(ctx, p.ID, id); err == nil {
			skip("already invited")
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		now := r.now()
		inv := &Invitation{ParticipantID: p.ID, EventID: id, State: StateInvited, CreatedAt: now, UpdatedAt: now}
		if err := tx.SaveInvitation(ctx, inv); err != nil {
			return fmt.Errorf("save invitation: %w", err)
		}
		if err := r.notify(ctx, tx, p, inv, NoticeInvitation); err != nil {
			return err
		}
		res.Created = append(res.Created, inv.ID)
	}
	return nil
}

// Outcome says what an incoming reply did: the invitation it answered
// and the answer, or why it was ignored.
type Outcome struct {
	InvitationID int64
	Answer       Answer
	// Ignored is set when the reply changed nothing, saying why.
	Ignored string
	// Subscribed is the slug of the source a join mail subscribed the
	// sender to, and Invited the invitations it sent at once.
	Subscribed string
	Invited    []int64
}

// HandleReply applies an answer read from a mail. It counts only when a
// token (or a Message-ID the mail refers to) names an invitation, the
// answer is about that invitation's event, and it comes from the invited
// address (as sender or as the calendar's attendee). Anything else is
// ignored and logged, never answered.
func (r *RSVP[T]) HandleReply(ctx context.Context, reply Reply) (Outcome, error) {
	var out Outcome
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		out = Outcome{}
		if reply.MessageID != "" {
			first, err := tx.FirstSeen(ctx, reply.MessageID)
			if err != nil {
				return err
			}
			if !first {
				out.Ignored = "mail already processed (same Message-ID)"
				return nil
			}
		}
		inv, err := r.findInvitation(ctx, tx, reply)
		if err != nil {
			return err
		}
		if inv == nil {
			out.Ignored = "no valid reply token and no reference to a sent mail"
			return nil
		}
		out.InvitationID = inv.ID
		p, err := tx.ParticipantByID(ctx, inv.ParticipantID)
		if err != nil {
			return err
		}
		ev, err := tx.EventByID(ctx, inv.EventID)
		if err != nil {
			return err
		}
		answer, why := pickAnswer(reply, p.Address, ev.APID)
		if answer == "" {
			out.Ignored = why
			return nil
		}
		out.Answer = answer
		if ev.Deleted || ev.Status == StatusCancelled {
			out.Ignored = "event cancelled"
			return nil
		}
		if ev.Over(r.now()) {
			out.Ignored = "event over"
			return nil
		}
		return r.apply(ctx, tx, p, inv, ev, answer)
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("handle reply: %w", err)
	}
	if out.Ignored != "" {
		r.log().Info("reply ignored", "invitation", out.InvitationID, "reason", out.Ignored)
	} else {
		r.log().Info("reply applied", "invitation", out.InvitationID, "answer", out.Answer)
	}
	return out, nil
}

func (r *RSVP[T]) findInvitation(ctx context.Context, tx T, reply Reply) (*Invitation, error) {
	for _, tok := range reply.Tokens {
		inv, err := tx.InvitationByTokenHash(ctx, HashToken(tok))
		if err == nil {
			return inv, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	for _, id := range reply.References {
		inv, err := tx.InvitationByMessageID(ctx, id)
		if err == nil {
			return inv, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

// pickAnswer finds the answer about the event with UID uid from address.
// A calendar answer must name the event's UID; its attendee must be the
// invited address, or the mail's sender must be (BlueMind's connector
// writes the attendee under another domain than the sender's). A text
// answer counts only from the invited address itself.
func pickAnswer(reply Reply, address, uid string) (Answer, string) {
	fromOK := strings.EqualFold(strings.TrimSpace(reply.From), address)
	if len(reply.Calendar) > 0 {
		var forEvent []CalendarAnswer
		for _, ca := range reply.Calendar {
			if ca.UID == uid {
				forEvent = append(forEvent, ca)
			}
		}
		if len(forEvent) == 0 {
			return "", "calendar reply for an event this invitation is not about (UID mismatch)"
		}
		for _, ca := range forEvent {
			if strings.EqualFold(ca.Attendee, address) {
				return ca.Answer, ""
			}
		}
		if fromOK && len(forEvent) == 1 {
			return forEvent[0].Answer, ""
		}
		return "", "calendar reply from an address that was not invited"
	}
	if reply.Text == "" {
		return "", "no answer found (no calendar reply, no yes/no/maybe first line)"
	}
	if !fromOK {
		return "", "text reply from an address that was not invited"
	}
	return reply.Text, ""
}

// notify tells the participant of an invitation (p, or looked up when nil)
// on their own channel: mail, or a direct reply on the fediverse.
func (r *RSVP[T]) notify(ctx context.Context, tx T, p *Participant, inv *Invitation, n Notice) error {
	if p == nil {
		var err error
		if p, err = tx.ParticipantByID(ctx, inv.ParticipantID); err != nil {
			return fmt.Errorf("notify invitation %d: %w", inv.ID, err)
		}
	}
	to := r.Mailer
	if p.Fediverse != "" {
		to = r.Fediverse
	}
	if to == nil {
		r.log().Warn("notice dropped: its channel is not configured", "invitation", inv.ID, "notice", n)
		return nil
	}
	return to.Notify(ctx, tx, inv, n)
}

func (r *RSVP[T]) setState(ctx context.Context, tx T, inv *Invitation, s ParticipationState, answered bool) error {
	inv.State = s
	inv.UpdatedAt = r.now()
	if answered {
		inv.AnsweredAt = inv.UpdatedAt
	}
	if err := tx.SaveInvitation(ctx, inv); err != nil {
		return fmt.Errorf("save invitation %d: %w", inv.ID, err)
	}
	return nil
}

func (r *RSVP[T]) apply(ctx context.Context, tx T, p *Participant, inv *Invitation, ev *StoredEvent, a Answer) error {
	switch a {
	case AnswerAccepted:
		if inv.State.Joined() {
			return nil // a second "yes" changes nothing and is not answered
		}
		switch {
		case ev.JoinMode == JoinExternal:
			if inv.State == StateExternal {
				return nil
			}
			if err := r.setState(ctx, tx, inv, StateExternal, true); err != nil {
				return err
			}
			return r.notify(ctx, tx, p, inv, NoticeExternal)
		case ev.RemainingCapacity != nil && *ev.RemainingCapacity <= 0:
			// Mobilizon drops a Join to a full event without a word:
			// sending one would leave the person waiting forever.
			if err := r.setState(ctx, tx, inv, StateFull, true); err != nil {
				return err
			}
			return r.notify(ctx, tx, p, inv, NoticeFull)
		}
		joinID, err := r.Participator.Join(ctx, tx, p, ev)
		if err != nil {
			return fmt.Errorf("join event %s: %w", ev.APID, err)
		}
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return fmt.Errorf("save participant: %w", err)
		}
		inv.JoinID = joinID
		if ev.JoinMode == JoinRestricted || ev.JoinMode == JoinInvite {
			if err := r.setState(ctx, tx, inv, StatePending, true); err != nil {
				return err
			}
			return r.notify(ctx, tx, p, inv, NoticePending)
		}
		if err := r.setState(ctx, tx, inv, StateJoining, true); err != nil {
			return err
		}
		wait := r.ConfirmWait
		if wait == 0 {
			wait = 2 * time.Minute
		}
		return tx.Enqueue(ctx, ConfirmCheckJob{InvitationID: inv.ID, JoinID: joinID}, JobOpts{RunAt: r.now().Add(wait)})
	case AnswerDeclined:
		if inv.State.Joined() {
			if err := r.Participator.Leave(ctx, tx, p, ev, inv.JoinID); err != nil {
				return fmt.Errorf("leave event %s: %w", ev.APID, err)
			}
			if err := r.setState(ctx, tx, inv, StateLeft, true); err != nil {
				return err
			}
			return r.notify(ctx, tx, p, inv, NoticeLeft)
		}
		if inv.State == StateDeclined || inv.State == StateLeft {
			return nil
		}
		return r.setState(ctx, tx, inv, StateDeclined, true)
	case AnswerTentative:
		if inv.State.Joined() || inv.State == StateTentative {
			// Mobilizon has no "maybe": a standing Join is kept rather
			// than giving the place away on an unsure answer.
			return nil
		}
		if err := r.setState(ctx, tx, inv, StateTentative, true); err != nil {
			return err
		}
		return r.notify(ctx, tx, p, inv, NoticeMaybe)
	}
	return fmt.Errorf("unknown answer %q", a)
}

// JoinAnswered applies the home server's Accept or Reject of one of our
// Joins. Answers to Joins passerelle no longer stands by (the participant
// left) are ignored.
func (r *RSVP[T]) JoinAnswered(ctx context.Context, tx T, joinID string, answer JoinAnswer) error {
	inv, err := tx.InvitationByJoinID(ctx, joinID)
	if errors.Is(err, ErrNotFound) {
		r.log().Info("answer to an unknown Join ignored", "join", joinID)
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case answer == JoinAccepted && (inv.State.Joined() || inv.State == StateRejected) && inv.State != StateJoined:
		if err := r.setState(ctx, tx, inv, StateJoined, false); err != nil {
			return err
		}
		return r.notify(ctx, tx, nil, inv, NoticeJoined)
	case answer == JoinRejected && (inv.State.Joined()):
		if err := r.setState(ctx, tx, inv, StateRejected, false); err != nil {
			return err
		}
		return r.notify(ctx, tx, nil, inv, NoticeRejected)
	}
	return nil
}

// CheckConfirmation runs when the wait for an Accept is over: a Join still
// unanswered makes the participant hear that it was delivered, but not
// confirmed (a later Accept still sends "you're in").
func (r *RSVP[T]) CheckConfirmation(ctx context.Context, job ConfirmCheckJob) error {
	return r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		inv, err := tx.InvitationByID(ctx, job.InvitationID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if inv.State != StateJoining || inv.JoinID != job.JoinID {
			return nil
		}
		if err := r.setState(ctx, tx, inv, StateUnconfirmed, false); err != nil {
			return err
		}
		return r.notify(ctx, tx, nil, inv, NoticeUnconfirmed)
	})
}

// EventChanged sends an update (SEQUENCE+1) or a cancellation to everyone
// invited to a changed event who has not declined, left or been refused.
// It is a ChangeListener: the mails commit with the change.
func (r *RSVP[T]) EventChanged(ctx context.Context, tx T, ch Change) error {
	var n Notice
	switch ch.Kind {
	case ChangeCreated:
		if r.Mailer == nil {
			return nil // mail is off: no invitation could be sent
		}
		return r.inviteSubscribers(ctx, tx, ch.Event)
	case ChangeUpdated:
		n = NoticeUpdate
	case ChangeCancelled, ChangeDeleted:
		n = NoticeCancel
	default:
		return nil
	}
	invs, err := tx.InvitationsOfEvent(ctx, ch.Event.ID, 0, 0)
	if err != nil {
		return err
	}
	// The first chunk is told with the change; each further chunk gets a
	// job, all enqueued now, so that they run side by side on every
	// worker and replica (a chain of jobs, each enqueuing the next, waited
	// for a job fetch at every link: 12 to 20 s for 5,000 invitees on
	// PostgreSQL instead of 3 to 4).
	job := FanoutJob{EventID: ch.Event.ID, Notice: n, Until: r.now()}
	for i := fanoutChunk; i < len(invs); i += fanoutChunk {
		next := job
		next.After, next.Through = invs[i-1].ID, invs[min(i+fanoutChunk, len(invs))-1].ID
		if err := tx.Enqueue(ctx, next, JobOpts{}); err != nil {
			return err
		}
	}
	return r.tell(ctx, tx, job, invs[:min(fanoutChunk, len(invs))])
}

// fanoutChunk bounds the invitees one transaction tells of an event's
// change: the change's own transaction tells the first ones, and a job
// (FanoutJob) each further chunk. The change still reads every invitation
// and inserts a job per chunk, but telling (a participant look-up and a
// mail job each) no longer grows with the invitees. (Told all at once,
// 5,000 invitees took the change past the inbox's few seconds an
// activity on a replica with a quarter of a core: the update was rolled
// back and retried, never to go out.)
const fanoutChunk = 200

// FanoutJob tells the invitees of an event from after the invitation
// After through the invitation Through (by id) of a change.
type FanoutJob struct {
	EventID int64  `json:"event_id"`
	Notice  Notice `json:"notice"`
	After   int64  `json:"after"`
	Through int64  `json:"through"`
	// Until is when the change was stored: an invitation made later was
	// sent with the changed event already.
	Until time.Time `json:"until"`
}

// Kind names the job.
func (FanoutJob) Kind() string { return "rsvp_fanout" }

// Fanout runs a FanoutJob.
func (r *RSVP[T]) Fanout(ctx context.Context, job FanoutJob) error {
	return r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		invs, err := tx.InvitationsOfEvent(ctx, job.EventID, job.After, fanoutChunk)
		if err != nil {
			return err
		}
		for i, inv := range invs {
			if inv.ID > job.Through {
				invs = invs[:i]
				break
			}
		}
		return r.tell(ctx, tx, job, invs)
	})
}

// tell sends the job's notice to each of invs who has not declined, left
// or been refused, and was invited before the change.
func (r *RSVP[T]) tell(ctx context.Context, tx T, job FanoutJob, invs []*Invitation) error {
	for _, inv := range invs {
		switch {
		case inv.State == StateDeclined, inv.State == StateLeft, inv.State == StateRejected:
			continue
		case inv.CreatedAt.After(job.Until):
			continue
		}
		if err := r.notify(ctx, tx, nil, inv, job.Notice); err != nil {
			return err
		}
	}
	return nil
}

// InviteToEvent invites one address to one event, as the event page's
// form asks. An unsubscribed address gets nothing and the caller is not
// told: a public form must not reveal which addresses opted out.
func (r *RSVP[T]) InviteToEvent(ctx context.Context, eventID int64, address string) error {
	_, err := r.Invite(ctx, address, []int64{eventID})
	if errors.Is(err, ErrUnsubscribed) {
		return nil
	}
	return err
}

// FediverseAnswer is an answer read from a reply to an event's post on
// the fediverse.
type FediverseAnswer struct {
	// Account is the URI of the account that replied: the participant.
	Account string
	EventID int64
	Answer  Answer
}

// AnswerFromFediverse applies, in tx, an answer someone gave by replying
// to an event's post: the same flow as a mail answer (capacity, approval,
// Join from a pseudonymous actor of their own), with the account as the
// participant. Only a "yes" makes someone a participant: a "no" or a
// "maybe" from an account that never said yes changes nothing. The
// outcome names the invitation when there is one (also when the answer
// changed nothing), so the caller can record where the person hears back.
func (r *RSVP[T]) AnswerFromFediverse(ctx context.Context, tx T, a FediverseAnswer) (Outcome, error) {
	out := Outcome{Answer: a.Answer}
	if strings.TrimSpace(a.Account) == "" {
		return out, errors.New("fediverse answer without the account's URI")
	}
	ev, err := tx.EventByID(ctx, a.EventID)
	if errors.Is(err, ErrNotFound) {
		out.Ignored = "unknown event"
		return out, nil
	}
	if err != nil {
		return out, err
	}
	p, err := tx.ParticipantByFediverse(ctx, a.Account)
	switch {
	case errors.Is(err, ErrNotFound):
		p = nil
	case err != nil:
		return out, err
	}
	var inv *Invitation
	if p != nil {
		inv, err = tx.InvitationFor(ctx, p.ID, ev.ID)
		if errors.Is(err, ErrNotFound) {
			inv = nil
		} else if err != nil {
			return out, err
		}
	}
	if inv != nil {
		out.InvitationID = inv.ID
	}
	switch {
	case ev.Deleted || ev.Status == StatusCancelled:
		out.Ignored = "event cancelled"
		return out, nil
	case ev.Over(r.now()):
		out.Ignored = "event over"
		return out, nil
	case inv == nil && a.Answer != AnswerAccepted:
		out.Ignored = "no participation to change"
		return out, nil
	}
	if p == nil {
		p = &Participant{Fediverse: strings.TrimSpace(a.Account), CreatedAt: r.now()}
		if err := tx.SaveParticipant(ctx, p); err != nil {
			return out, fmt.Errorf("save participant: %w", err)
		}
	}
	if inv == nil {
		now := r.now()
		inv = &Invitation{ParticipantID: p.ID, EventID: ev.ID, State: StateInvited, CreatedAt: now, UpdatedAt: now}
		if err := tx.SaveInvitation(ctx, inv); err != nil {
			return out, fmt.Errorf("save invitation: %w", err)
		}
		out.InvitationID = inv.ID
	}
	before := inv.State
	if err := r.apply(ctx, tx, p, inv, ev, a.Answer); err != nil {
		return out, err
	}
	if inv.State == before {
		out.Ignored = "answer changes nothing"
	}
	return out, nil
}
