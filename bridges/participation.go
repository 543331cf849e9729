package bridges

import "context"

// JoinAnswer is what an event's home server said of a Join passerelle sent
// for a participant.
type JoinAnswer string

// An Accept{Join} or a Reject{Join}. Mobilizon sends no answer at all to a
// Join of a full event, and none for a free group event without a local
// moderator: the absence of an answer is not an answer.
const (
	JoinAccepted JoinAnswer = "accepted"
	JoinRejected JoinAnswer = "rejected"
)

// JoinAnswerListener is told, inside the transaction that records it, that
// a home server answered one of passerelle's Joins (joinID is the id of the
// Join activity passerelle minted).
type JoinAnswerListener[T Tx] interface {
	JoinAnswered(ctx context.Context, tx T, joinID string, answer JoinAnswer) error
}
