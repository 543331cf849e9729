package federation

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"passerelle/bridges"
	"passerelle/store"
)

// MaxInboxBody bounds an inbox POST: 1 MiB, far above any real activity.
const MaxInboxBody = 1 << 20

// handledTypes are the activity types the inbox acts on; anything else is
// acknowledged and dropped without a job.
var handledTypes = map[string]bool{
	"Create": true, "Update": true, "Announce": true, "Delete": true,
	"Accept": true, "Reject": true, "Undo": true,
}

// InboxJob processes one verified incoming activity after the 202.
type InboxJob struct {
	// Activity is the document as received.
	Activity json.RawMessage `json:"activity"`
	// Signer is the actor whose key signed the request.
	Signer string `json:"signer"`
}

// Kind implements bridges.Job.
func (InboxJob) Kind() string { return "federation.inbox" }

// serveInbox is the shared /inbox and every actor's inbox. It does only
// what must happen before answering: the size bound, the domain policy
// (before any other work), the signature, the key owner, the replay check;
// then it commits the job and answers 202.
func (s *Service) serveInbox(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if u := r.PathValue("username"); u != "" {
		if _, err := s.db.LocalActorByUsername(ctx, u); err != nil {
			http.Error(w, "no such actor", http.StatusNotFound)
			return
		}
	}
	// The keyId names the sender's host before the body is even read.
	if keyID := parseSignatureParams(r.Header.Get("Signature"))["keyId"]; keyID != "" {
		if u, err := url.Parse(keyID); err == nil {
			if err := s.policy.CheckHost(ctx, u.Host); errors.Is(err, ErrBlocked) {
				http.Error(w, "domain blocked", http.StatusForbidden)
				return
			}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInboxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "activity larger than 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	var act Activity
	if err := json.Unmarshal(body, &act); err != nil || act.Type == "" {
		http.Error(w, "body is not an ActivityStreams activity", http.StatusBadRequest)
		return
	}
	actor := ref(act.Actor)
	if actor == "" {
		http.Error(w, "activity has no actor", http.StatusBadRequest)
		return
	}
	if err := s.policy.CheckURL(ctx, actor); err != nil {
		http.Error(w, "domain blocked", http.StatusForbidden)
		return
	}
	key, err := s.verifier.Verify(ctx, r, body)
	if err != nil {
		var se *SignatureError
		if errors.As(err, &se) {
			s.log.Info("inbox: signature refused", "actor", actor, "reason", se.Reason)
			http.Error(w, se.Reason, http.StatusUnauthorized)
			return
		}
		if errors.Is(err, ErrBlocked) {
			http.Error(w, "domain blocked", http.StatusForbidden)
			return
		}
		s.log.Warn("inbox: cannot get the signature key", "actor", actor, "err", err)
		http.Error(w, "cannot verify signature: key unavailable", http.StatusUnauthorized)
		return
	}
	if key.Owner != actor {
		s.log.Info("inbox: key owner is not the actor", "actor", actor, "key_owner", key.Owner)
		http.Error(w, "signature key is not the activity actor's", http.StatusUnauthorized)
		return
	}
	if !handledTypes[act.Type] {
		s.log.Debug("inbox: ignoring activity type", "type", act.Type, "id", act.ID, "actor", actor)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	id := act.ID
	if id == "" {
		// Transient activities have no id; the body's digest still
		// catches a replay.
		id = "transient:" + actor
	}
	err = s.db.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		fresh, err := tx.SeeActivity(ctx, id, body)
		if err != nil || !fresh {
			return err
		}
		return tx.Enqueue(ctx, InboxJob{Activity: body, Signer: key.Owner}, bridges.JobOpts{MaxAttempts: 10})
	})
	if err != nil {
		s.log.Error("inbox: cannot queue activity", "id", act.ID, "err", err)
		http.Error(w, "cannot queue activity, retry later", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
