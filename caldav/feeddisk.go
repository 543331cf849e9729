package caldav

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
)

// DefaultMaxMemoryFeed is the largest feed (uncompressed) kept in memory
// and in the FeedStore; a larger one, such as "all" on an instance of
// hundreds of thousands of events, is served from a temporary file.
const DefaultMaxMemoryFeed = 8 << 20

// ObjectWalker is what a Store may also do: hand over a calendar's objects'
// data one at a time, so a feed is built without holding them all.
type ObjectWalker interface {
	WalkData(ctx context.Context, cal *Calendar, fn func(data []byte) error) error
}

// diskFeed is an assembled feed in two anonymous temporary files (its
// plain and gzip forms): unlinked as soon as made, so nothing is left
// behind by a crash, and freed when closed.
type diskFeed struct {
	plain, gz       *os.File
	plainLen, gzLen int64
}

// anonymousFile is a temporary file in dir (empty: the system's), already
// removed from it.
func anonymousFile(dir string) (*os.File, error) {
	if dir != "" {
		// data_dir is made at first start, but may have gone since.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("folder for building feeds: %w", err)
		}
	}
	f, err := os.CreateTemp(dir, "passerelle-feed-")
	if err != nil {
		return nil, fmt.Errorf("temporary file for a feed: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("temporary file for a feed: %w", err)
	}
	return f, nil
}

func newDiskFeed(dir string) (*diskFeed, error) {
	plain, err := anonymousFile(dir)
	if err != nil {
		return nil, err
	}
	gz, err := anonymousFile(dir)
	if err != nil {
		plain.Close()
		return nil, err
	}
	return &diskFeed{plain: plain, gz: gz}, nil
}

// write writes the feed through fn into both files at once.
func (d *diskFeed) write(fn func(w io.Writer) error) error {
	pw := bufio.NewWriterSize(d.plain, 256<<10)
	gw := bufio.NewWriterSize(d.gz, 64<<10)
	zw, err := gzip.NewWriterLevel(gw, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := fn(io.MultiWriter(pw, zw)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := pw.Flush(); err != nil {
		return err
	}
	if err := gw.Flush(); err != nil {
		return err
	}
	// Each file's length is where its writing ended.
	if d.plainLen, err = d.plain.Seek(0, io.SeekCurrent); err != nil {
		return err
	}
	d.gzLen, err = d.gz.Seek(0, io.SeekCurrent)
	return err
}

// read returns one form's bytes.
func (d *diskFeed) read(gz bool) ([]byte, error) {
	f, n := d.plain, d.plainLen
	if gz {
		f, n = d.gz, d.gzLen
	}
	b := make([]byte, n)
	_, err := f.ReadAt(b, 0)
	return b, err
}

func (d *diskFeed) close() {
	d.plain.Close()
	d.gz.Close()
}

// representation of an assembled feed: from memory or from its files.
func (f *AssembledFeed) representation() representation {
	if d := f.onDisk; d != nil {
		return representation{plain: d.plain, plainLen: d.plainLen, gz: d.gz, gzLen: d.gzLen}
	}
	return inMemory(f.Body, f.Gzipped)
}
