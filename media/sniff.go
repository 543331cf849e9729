package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
)

// Limits on what passerelle keeps and serves. An image is refused above
// them before anything decodes it: a few kilobytes of PNG may declare
// 20,000×20,000 pixels (1.6 GB once decoded), and the browsers, mail
// readers and Mastodon instances that receive it would decode it.
const (
	MaxBytes  = 10 << 20
	MaxSide   = 10_000
	MaxPixels = 50_000_000
)

// ErrRefused marks a remote image passerelle will never keep: not an
// image of an accepted type, too large, too many pixels, or from a host
// it must not reach. Fetching it again would not help.
var ErrRefused = errors.New("image refused")

// Types are the accepted image types, by what Sniff returns.
var Types = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"}

// Sniff returns the type of an image from its first bytes (its magic
// number), never from what a server said it was: an SVG or an HTML page
// served as image/png is refused, since either may carry script. It also
// reads the image's size from its header, without decoding it, and
// refuses one above MaxSide or MaxPixels.
func Sniff(b []byte) (string, error) {
	var (
		typ  string
		w, h int
		err  error
	)
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		typ, w, h, err = decodeConfig("image/jpeg", jpeg.DecodeConfig, b)
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		typ, w, h, err = decodeConfig("image/png", png.DecodeConfig, b)
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		typ, w, h, err = decodeConfig("image/gif", gif.DecodeConfig, b)
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		typ = "image/webp"
		w, h, err = webpSize(b)
	case len(b) >= 12 && string(b[4:8]) == "ftyp" && isAVIF(b):
		typ = "image/avif"
		w, h, err = avifSize(b)
	default:
		return "", fmt.Errorf("%w: not a JPEG, PNG, GIF, WebP or AVIF image", ErrRefused)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s header: %v", ErrRefused, typ, err)
	}
	if w <= 0 || h <= 0 || w > MaxSide || h > MaxSide || int64(w)*int64(h) > MaxPixels {
		return "", fmt.Errorf("%w: %s of %d×%d pixels (at most %d per side and %d in all)", ErrRefused, typ, w, h, MaxSide, MaxPixels)
	}
	return typ, nil
}

// decodeConfig reads only the header (image.DecodeConfig's contract).
func decodeConfig(typ string, f func(io.Reader) (image.Config, error), b []byte) (string, int, int, error) {
	c, err := f(bytes.NewReader(b))
	return typ, c.Width, c.Height, err
}

// webpSize reads the canvas size of the three WebP forms (lossy VP8,
// lossless VP8L, extended VP8X). Go's standard library has no WebP
// decoder, and golang.org/x/image/webp would decode more than needed.
func webpSize(b []byte) (int, int, error) {
	if len(b) < 30 {
		return 0, 0, errors.New("truncated")
	}
	switch string(b[12:16]) {
	case "VP8 ":
		// Frame tag (3 bytes), start code 9d 01 2a, then 14-bit sizes.
		if !bytes.Equal(b[23:26], []byte{0x9d, 0x01, 0x2a}) {
			return 0, 0, errors.New("bad VP8 start code")
		}
		return int(binary.LittleEndian.Uint16(b[26:28]) & 0x3fff), int(binary.LittleEndian.Uint16(b[28:30]) & 0x3fff), nil
	case "VP8L":
		if b[20] != 0x2f {
			return 0, 0, errors.New("bad VP8L signature")
		}
		v := binary.LittleEndian.Uint32(b[21:25])
		return int(v&0x3fff) + 1, int((v>>14)&0x3fff) + 1, nil
	case "VP8X":
		w := int(b[24]) | int(b[25])<<8 | int(b[26])<<16
		h := int(b[27]) | int(b[28])<<8 | int(b[29])<<16
		return w + 1, h + 1, nil
	}
	return 0, 0, fmt.Errorf("unknown chunk %q", b[12:16])
}

// isAVIF tells an AVIF file by its ftyp box: major brand or one of the
// compatible brands avif or avis.
func isAVIF(b []byte) bool {
	size := int(binary.BigEndian.Uint32(b[0:4]))
	if size < 16 || size > len(b) || size > 4096 {
		return false
	}
	for i := 8; i+4 <= size; i += 4 {
		if i == 12 {
			continue // minor version, not a brand
		}
		if s := string(b[i : i+4]); s == "avif" || s == "avis" {
			return true
		}
	}
	return false
}

// avifSize reads the image spatial extents ('ispe') properties, the only
// place an AVIF file states its size. Rather than walk the whole box tree
// (meta → iprp → ipco), it takes every ispe box in the file's head and
// keeps the largest: a file that hides its size, or declares a huge one
// in any of them, is refused.
func avifSize(b []byte) (int, int, error) {
	head := b[:min(len(b), 64<<10)]
	w, h := 0, 0
	for i := 4; i+16 <= len(head); i++ {
		if string(head[i:i+4]) != "ispe" {
			continue
		}
		// box size, "ispe", version and flags, width, height.
		bw := int(binary.BigEndian.Uint32(head[i+8 : i+12]))
		bh := int(binary.BigEndian.Uint32(head[i+12 : i+16]))
		w, h = max(w, bw), max(h, bh)
	}
	if w == 0 || h == 0 {
		return 0, 0, errors.New("no image size (ispe) in the file's head")
	}
	return w, h, nil
}
