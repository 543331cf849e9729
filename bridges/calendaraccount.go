package bridges

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file holds the calendar account each participant gets: they sign
// in to the CalDAV server with their address and a calendar password, see
// their invitations as a calendar, and their calendar app's Accept,
// Maybe and Decline go through the same flow as a mail answer.

// CalendarPasswords makes participants' calendar passwords. A password is
// derived from the instance secret, the participant and a generation, so
// that every mail can carry it again while the database keeps only its
// hash: reading the database does not give anyone's password. A new
// generation replaces it (the page a mail links to).
type CalendarPasswords struct {
	secret []byte
}

// MinSecretLen is the shortest instance secret accepted, in bytes.
const MinSecretLen = 32

// NewCalendarPasswords derives passwords from secret.
func NewCalendarPasswords(secret []byte) (*CalendarPasswords, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("instance secret is %d bytes, want at least %d", len(secret), MinSecretLen)
	}
	return &CalendarPasswords{secret: secret}, nil
}

// Password is participant's password of generation gen: 100 bits, as four
// groups of five letters and digits (easy to type on a phone).
func (c *CalendarPasswords) Password(participantID, gen int64) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("passerelle calendar password\x00" + strconv.FormatInt(participantID, 10) + "\x00" + strconv.FormatInt(gen, 10)))
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)))[:20]
	return s[0:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:20]
}

// HashPassword is what the database keeps of a password. The passwords
// are random (100 bits), so a fast hash is as strong as a slow one.
func HashPassword(password string) string {
	sum := sha256.Sum256([]byte(password))
	return hex.EncodeToString(sum[:])
}

// Hashes gives the stored hash of each generation of a participant's
// password, as the store asks for it.
func (c *CalendarPasswords) Hashes(participantID int64) func(gen int64) string {
	return func(gen int64) string { return HashPassword(c.Password(participantID, gen)) }
}

// CalendarAccount is what a mail or a page shows of a participant's
// calendar account.
type CalendarAccount struct {
	User, Password string
}

// CalendarAccountTx is the storage the calendar account needs.
type CalendarAccountTx interface {
	// CalendarPasswordGen returns the password generation, making
	// generation 1 (stored as hashOf(1)) when there is none.
	CalendarPasswordGen(ctx context.Context, participantID int64, hashOf func(gen int64) string) (int64, error)
	// RotateCalendarPassword moves to the next generation.
	RotateCalendarPassword(ctx context.Context, participantID int64, hashOf func(gen int64) string) (int64, error)
}

// Account returns the participant's calendar account, making their
// password on first use, in tx.
func (c *CalendarPasswords) Account(ctx context.Context, tx CalendarAccountTx, p *Participant) (CalendarAccount, error) {
	gen, err := tx.CalendarPasswordGen(ctx, p.ID, c.Hashes(p.ID))
	if err != nil {
		return CalendarAccount{}, err
	}
	return CalendarAccount{User: p.Address, Password: c.Password(p.ID, gen)}, nil
}

// ReplaceCalendarPasswordByToken gives the participant a mail's token was
// sent to a new calendar password (the old one stops working) and returns
// their account with it.
func (r *RSVP[T]) ReplaceCalendarPasswordByToken(ctx context.Context, token string) (CalendarAccount, error) {
	if r.Passwords == nil {
		return CalendarAccount{}, errors.New("calendar accounts are not set up")
	}
	var acct CalendarAccount
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		_, p, err := invitationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		gen, err := tx.RotateCalendarPassword(ctx, p.ID, r.Passwords.Hashes(p.ID))
		if err != nil {
			return err
		}
		acct = CalendarAccount{User: p.Address, Password: r.Passwords.Password(p.ID, gen)}
		r.log().Info("calendar password replaced", "participant", p.ID)
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return CalendarAccount{}, fmt.Errorf("replace calendar password: %w", err)
	}
	return acct, err
}

// AnswerFromCalendar applies an answer a participant gave in their
// calendar app (the PARTSTAT of their copy, a DELETE, or an iTIP REPLY to
// their schedule outbox), signed in to their calendar account, about an
// event of their calendar. From there it is the same flow as a mail
// answer: capacity, approval, the Join or Leave, the mails that follow.
func (r *RSVP[T]) AnswerFromCalendar(ctx context.Context, participantID, eventID int64, a Answer) (Outcome, error) {
	switch a {
	case AnswerAccepted, AnswerDeclined, AnswerTentative:
	default:
		return Outcome{}, fmt.Errorf("answer %q: want accepted, declined or tentative", a)
	}
	var out Outcome
	err := r.Store.InTx(ctx, func(ctx context.Context, tx T) error {
		out = Outcome{Answer: a}
		inv, err := tx.InvitationFor(ctx, participantID, eventID)
		if err != nil {
			return err
		}
		p, err := tx.ParticipantByID(ctx, participantID)
		if err != nil {
			return err
		}
		return r.answer(ctx, tx, p, inv, a, &out)
	})
	return r.answered("calendar", out, err)
}
