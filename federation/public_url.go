package federation

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// PublicURLChanged is returned by CheckPublicURL when public_url is not the
// URL that this database's actors, Follows and Joins were made under.
type PublicURLChanged struct {
	// Stored is the URL the actors were made under; Configured is
	// public_url now.
	Stored, Configured string
	// Sources counts the followed and pending sources, whose follows name
	// the old instance actor; Participants the mail participants' actors,
	// whose Joins name theirs.
	Sources, Participants int
	// InstanceActor is the instance actor's id under Stored, and
	// NewInstanceActor under Configured.
	InstanceActor, NewInstanceActor string
}

func (e *PublicURLChanged) Error() string {
	return fmt.Sprintf("public_url changed: this database's actors were made under %s, and the configuration now says %s. "+
		"Every actor id changes with it (the instance actor %s becomes %s): %s. "+
		"Set public_url back to %s, or start once with `passerelle serve --accept-new-public-url` to move anyway",
		e.Stored, e.Configured, e.InstanceActor, e.NewInstanceActor, e.Breaks(), e.Stored)
}

// Breaks says what moving to the new URL breaks.
func (e *PublicURLChanged) Breaks() string {
	return fmt.Sprintf("the %d followed or pending source(s) know passerelle by its old actor and would no longer deliver to it "+
		"(follow each again after the move), and the %d mail participant actor(s) that joined events under the old URL would be unknown to those events' servers",
		e.Sources, e.Participants)
}

// CheckPublicURL compares public_url with the URL the local actors were
// made under (recorded when the instance actor was created). A different
// one silently changes every actor id, so it is refused with
// *PublicURLChanged, unless accept is set: then the new URL is recorded
// and what breaks is logged at WARN. A change is accepted quietly while
// nothing was made under the old URL (no source, no participant), as when
// a first try with the defaults is followed by the real configuration.
func (s *Service) CheckPublicURL(ctx context.Context, accept bool) error {
	current := s.URL("")
	stored, err := s.db.InstanceSetting(ctx, store.SettingPublicURL)
	if errors.Is(err, bridges.ErrNotFound) {
		// A database from before the URL was recorded: its Follows'
		// ids (public_url + /follows/…) tell it, when there are any.
		stored, err = s.urlOfFirstFollow(ctx)
	}
	if err != nil {
		return err
	}
	if stored == current {
		return nil
	}
	change := &PublicURLChanged{Stored: stored, Configured: current, NewInstanceActor: s.ActorURL(s.opts.InstanceActor)}
	if stored != "" {
		if change.Sources, err = s.followingSources(ctx); err != nil {
			return err
		}
		if change.Participants, err = s.db.CountLocalActors(ctx, store.ActorParticipant); err != nil {
			return err
		}
	}
	switch {
	case stored == "" || change.Sources == 0 && change.Participants == 0:
		if stored != "" {
			s.log.Info("public_url changed; nothing was made under the old one", "old", stored, "new", current)
		}
	case !accept:
		change.InstanceActor = strings.TrimSuffix(stored, "/") + "/actors/" + s.opts.InstanceActor
		return change
	default:
		change.InstanceActor = strings.TrimSuffix(stored, "/") + "/actors/" + s.opts.InstanceActor
		s.log.Warn("public_url changed (accepted with --accept-new-public-url): "+change.Breaks(),
			"old", stored, "new", current, "instance_actor", change.NewInstanceActor)
	}
	return s.db.SetInstanceSetting(ctx, store.SettingPublicURL, current)
}

// urlOfFirstFollow is the public_url a Follow was sent under, "" when
// none was.
func (s *Service) urlOfFirstFollow(ctx context.Context) (string, error) {
	srcs, err := s.db.Sources(ctx)
	if err != nil {
		return "", err
	}
	for _, src := range srcs {
		if base, _, ok := strings.Cut(src.FollowID, "/follows/"); ok {
			return base, nil
		}
	}
	return "", nil
}

func (s *Service) followingSources(ctx context.Context) (int, error) {
	srcs, err := s.db.Sources(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, src := range srcs {
		if src.State == bridges.SourceFollowed || src.State == bridges.SourcePending {
			n++
		}
	}
	return n, nil
}
