package caldav

import (
	"strings"
	"testing"
)

func TestFeedCacheBound(t *testing.T) {
	feed := func(version string, seq int64, n int) *AssembledFeed {
		return &AssembledFeed{Version: version, Seq: seq, Body: []byte(strings.Repeat("x", n))}
	}
	c := feedCache{max: 100}
	c.put("a", feed("1", 1, 40))
	c.put("b", feed("1", 1, 40))
	if c.get("a", "1") == nil || c.get("b", "1") == nil {
		t.Fatal("feeds within the bound were not kept")
	}
	if c.get("a", "2") != nil {
		t.Error("a feed of another version was served")
	}
	c.get("a", "1") // b is now the least recently served
	c.put("c", feed("1", 1, 40))
	if c.get("b", "1") != nil || c.get("a", "1") == nil || c.get("c", "1") == nil {
		t.Errorf("eviction kept %v, want a and c", keys(&c))
	}
	c.put("a", feed("0", 0, 10))
	if c.get("a", "1") == nil {
		t.Error("a feed built at an older sequence replaced a newer one")
	}
	c.put("huge", feed("1", 1, 101))
	if c.get("huge", "1") != nil || c.size > c.max {
		t.Errorf("a feed over the bound was kept (size %d of %d)", c.size, c.max)
	}
	c.put("a", feed("2", 2, 50))
	if c.get("a", "2") == nil || c.size != 90 {
		t.Errorf("replacing a: size %d, want 90 (a 50 + c 40), kept %v", c.size, keys(&c))
	}
}

func keys(c *feedCache) []string {
	var out []string
	for k := range c.entries {
		out = append(out, k)
	}
	return out
}
