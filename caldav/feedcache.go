package caldav

import (
	"context"
	"sync"
)

// AssembledFeed is one calendar's .ics feed as served: the VCALENDAR text
// and its gzip form, built for one version of the calendar.
type AssembledFeed struct {
	// Version names what the feed was built from: the calendar's last
	// change-log sequence and a digest of the feed's own properties. It is
	// database state, so a feed kept by one replica is valid for all.
	Version string
	// Seq is the change-log sequence the feed was built at.
	Seq     int64
	Body    []byte
	Gzipped []byte
	// onDisk holds a feed too large for memory (see Feeds.MaxMemoryFeed):
	// Body and Gzipped are then nil and both forms are read from there.
	onDisk *diskFeed
}

// size is the memory the feed holds: none when it is on disk.
func (f *AssembledFeed) size() int { return len(f.Body) + len(f.Gzipped) }

// FeedStore is what a Store may also do: keep each calendar's assembled
// feed, so that a feed request after the first one since a change is a
// read of one row, on whichever replica it lands.
type FeedStore interface {
	// StoredFeed returns the feed kept for cal at version, or ErrNotFound
	// when none is kept at that version.
	StoredFeed(ctx context.Context, cal *Calendar, version string) (*AssembledFeed, error)
	// SaveFeed keeps feed for cal, unless one built at a later sequence is
	// kept already (two replicas may build feeds of different versions
	// at once).
	SaveFeed(ctx context.Context, cal *Calendar, feed *AssembledFeed) error
}

// DefaultFeedCacheBytes bounds the memory Feeds keeps assembled feeds in,
// when Feeds.CacheBytes is zero.
const DefaultFeedCacheBytes = 64 << 20

// feedCache keeps the last assembled feed of each calendar in memory, at
// most max bytes in all, evicting the least recently served. It holds no
// state of its own: an entry is used only when its version is the one the
// database reports now.
type feedCache struct {
	mu      sync.Mutex
	max     int
	size    int
	tick    uint64
	entries map[string]*cachedFeed
}

type cachedFeed struct {
	feed *AssembledFeed
	used uint64
}

// get returns the feed kept under key when it is at version.
func (c *feedCache) get(key, version string) *AssembledFeed {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.feed.Version != version {
		return nil
	}
	c.tick++
	e.used = c.tick
	return e.feed
}

// put keeps feed under key, replacing what was there, unless it alone is
// larger than the bound.
func (c *feedCache) put(key string, feed *AssembledFeed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*cachedFeed{}
	}
	if old := c.entries[key]; old != nil {
		if old.feed.Seq > feed.Seq {
			return
		}
		c.size -= old.feed.size()
		delete(c.entries, key)
	}
	if feed.size() > c.max {
		return
	}
	for c.size+feed.size() > c.max {
		var oldest string
		var at uint64
		for k, e := range c.entries {
			if oldest == "" || e.used < at {
				oldest, at = k, e.used
			}
		}
		c.size -= c.entries[oldest].feed.size()
		delete(c.entries, oldest)
	}
	c.tick++
	c.entries[key] = &cachedFeed{feed: feed, used: c.tick}
	c.size += feed.size()
}
