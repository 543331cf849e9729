package mail

import (
	"bytes"
	"io"
	"strings"
	"testing"

	gomail "github.com/emersion/go-message/mail"
)

// htmlPart returns the decoded text/html part of a composed mail.
func htmlPart(t *testing.T, raw []byte) string {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			t.Fatal("no text/html part")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/html" {
				b, _ := io.ReadAll(p.Body)
				return string(b)
			}
		}
	}
}

// TestMailBannerFromPasserelle: the HTML part shows the banner from
// passerelle's copy when there is one, and nothing of the event's server.
func TestMailBannerFromPasserelle(t *testing.T) {
	o := testOutgoing(t, KindInvitation)
	o.Event.BannerURL, o.Event.BannerAlt = "https://mobilizon.example/media/banner.jpg", "Des verres"
	raw, err := o.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if h := htmlPart(t, raw); strings.Contains(h, "<img") {
		t.Errorf("a banner not cached shows:\n%s", h)
	}
	o.BannerURL = "https://passerelle.example/media/0123abcd"
	raw, err = o.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	h := htmlPart(t, raw)
	if !strings.Contains(h, `<img src="https://passerelle.example/media/0123abcd" alt="Des verres"`) || strings.Contains(h, "mobilizon.example/media") {
		t.Errorf("HTML part:\n%s", h)
	}
	checkComposed(t, o, raw)
}
