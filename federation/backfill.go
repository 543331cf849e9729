package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

// BackfillLimits bound one backfill of a source.
type BackfillLimits struct {
	// MaxPages per collection (default 20), MaxItems in all (default 500).
	MaxPages, MaxItems int
	// Timeout bounds the whole backfill (default 2 minutes).
	Timeout time.Duration
	// Recent keeps events that ended at most this long ago (default 30 days).
	Recent time.Duration
}

func (l BackfillLimits) withDefaults() BackfillLimits {
	if l.MaxPages <= 0 {
		l.MaxPages = 20
	}
	if l.MaxItems <= 0 {
		l.MaxItems = 500
	}
	if l.Timeout <= 0 {
		l.Timeout = 2 * time.Minute
	}
	if l.Recent <= 0 {
		l.Recent = 30 * 24 * time.Hour
	}
	return l
}

// BackfillProgress is reported after each item.
type BackfillProgress struct {
	Pages, Items, Stored int
	// Total is the collections' totalItems when they said (0 otherwise).
	Total int
}

// BackfillResult says what a backfill did.
type BackfillResult struct {
	BackfillProgress
	// Truncated names the limit that stopped it early, if one did.
	Truncated string
}

type collectionPage struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	TotalItems   int               `json:"totalItems"`
	First        json.RawMessage   `json:"first"`
	Next         json.RawMessage   `json:"next"`
	Items        []json.RawMessage `json:"items"`
	OrderedItems []json.RawMessage `json:"orderedItems"`
}

// Backfill reads the source's event collection (Mobilizon's /@group/events)
// and outbox, and stores the upcoming and recent events found there, within
// the limits. Items are believed only when they come from the source's own
// host; Mobilizon's synthetic outbox Creates (with `to` as a bare string)
// and its empty last page are read as they are.
func (s *Service) Backfill(ctx context.Context, src *bridges.Source, limits BackfillLimits, progress func(BackfillProgress)) (BackfillResult, error) {
	limits = limits.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	var res BackfillResult
	report := func() {
		if progress != nil {
			progress(res.BackfillProgress)
		}
	}
	for _, coll := range []string{src.EventsURL, src.Outbox} {
		if coll == "" {
			continue
		}
		err := s.walkCollection(ctx, coll, limits, &res, func(item json.RawMessage) error {
			stored, err := s.backfillItem(ctx, src, item, limits)
			res.Items++
			if stored {
				res.Stored++
			}
			report()
			return err
		})
		if errors.Is(err, context.DeadlineExceeded) {
			res.Truncated = fmt.Sprintf("time limit (%s)", limits.Timeout)
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("backfill %s from %s: %w", src.Slug, coll, err)
		}
		if res.Truncated != "" {
			break
		}
	}
	if err := s.db.SourceFetched(ctx, src.ID, s.now()); err != nil {
		s.log.Warn("backfill: cannot record the fetch", "source", src.Slug, "err", err)
	}
	return res, nil
}

func (s *Service) walkCollection(ctx context.Context, coll string, limits BackfillLimits, res *BackfillResult, each func(json.RawMessage) error) error {
	body, err := s.fetcher.Get(ctx, coll, "")
	if err != nil {
		return err
	}
	var page collectionPage
	if err := json.Unmarshal(body, &page); err != nil {
		return fmt.Errorf("collection %s is not JSON: %w", coll, err)
	}
	if page.TotalItems > res.Total {
		res.Total = page.TotalItems
	}
	if len(page.First) > 0 {
		first := embedded(page.First)
		if first != nil {
			if err := json.Unmarshal(page.First, &page); err != nil {
				return fmt.Errorf("first page of %s: %w", coll, err)
			}
		} else if u := ref(page.First); u != "" {
			page = collectionPage{Next: mustJSON(u)}
		}
	}
	seen := map[string]bool{coll: true}
	for pages := 0; ; {
		for _, it := range append(page.OrderedItems, page.Items...) {
			if res.Items >= limits.MaxItems {
				res.Truncated = fmt.Sprintf("item limit (%d)", limits.MaxItems)
				return nil
			}
			if err := each(it); err != nil {
				return err
			}
		}
		next := ref(page.Next)
		// Mobilizon's last page links to an empty next page; stop on an
		// empty page as on a missing link.
		if next == "" || seen[next] || (pages > 0 && len(page.OrderedItems)+len(page.Items) == 0) {
			return nil
		}
		if pages >= limits.MaxPages {
			res.Truncated = fmt.Sprintf("page limit (%d)", limits.MaxPages)
			return nil
		}
		seen[next] = true
		if !sameHost(next, coll) {
			return fmt.Errorf("collection page %s is on another host", next)
		}
		body, err := s.fetcher.Get(ctx, next, "")
		if err != nil {
			return err
		}
		page = collectionPage{}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("collection page %s is not JSON: %w", next, err)
		}
		pages++
		res.Pages++
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// backfillItem stores one collection item if it is (or wraps) an event of
// the source. Items the source cannot vouch for are skipped, not errors.
func (s *Service) backfillItem(ctx context.Context, src *bridges.Source, item json.RawMessage, limits BackfillLimits) (bool, error) {
	o := embedded(item)
	raw := []byte(item)
	if o != nil && (o.is("Create") || o.is("Update") || o.is("Announce")) {
		// An activity wrapping the event (Mobilizon's synthetic Creates).
		raw = o.Object
		o = embedded(o.Object)
	}
	if o == nil {
		// Only an id: fetch it from its origin, if that is the source's.
		id := ref(raw)
		if id == "" || !sameHost(id, src.ActorURL) {
			return false, nil
		}
		body, err := s.fetcher.Get(ctx, id, "")
		if err != nil {
			s.log.Debug("backfill: cannot fetch item", "id", id, "err", err)
			return false, nil
		}
		raw = body
		if o = embedded(body); o == nil {
			return false, nil
		}
	}
	if !sameHost(o.ID, src.ActorURL) {
		return false, nil
	}
	ev, err := s.decodeEvent(ctx, src, raw)
	if err != nil || ev.Over(s.now().Add(-limits.Recent)) {
		return false, nil
	}
	ch, err := s.events.Apply(ctx, ev, raw)
	if err != nil {
		return false, err
	}
	return ch.Event != nil, nil
}
