package seal

import (
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New([]byte("0123456789abcdef0123456789abcdef"), "source password")
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Seal("hunter2", "https://cal.example/dav/")
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(s) || strings.Contains(s, "hunter2") {
		t.Fatalf("sealed value %q shows the password or is not marked", s)
	}
	s2, _ := b.Seal("hunter2", "https://cal.example/dav/")
	if s == s2 {
		t.Error("two seals of one password are equal: the nonce is not random")
	}
	if got, err := b.Open(s, "https://cal.example/dav/"); err != nil || got != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Bound to the URL: pointing the row at another server does not
	// give the password away.
	if _, err := b.Open(s, "https://attacker.example/"); err == nil {
		t.Error("opened with another URL")
	}
	other, _ := New([]byte("another secret, at least 32 bytes long"), "source password")
	if _, err := other.Open(s, "https://cal.example/dav/"); err == nil {
		t.Error("opened with another instance secret")
	}
	purpose, _ := New([]byte("0123456789abcdef0123456789abcdef"), "something else")
	if _, err := purpose.Open(s, "https://cal.example/dav/"); err == nil {
		t.Error("opened for another purpose")
	}
	if _, err := b.Open(prefix+"not base64!", ""); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged value: %v", err)
	}
	// Clear values stored before sealing come back as they are.
	if got, err := b.Open("clear", "x"); err != nil || got != "clear" {
		t.Errorf("clear value: %q, %v", got, err)
	}
	if s, _ := b.Seal("", "x"); s != "" {
		t.Errorf("empty password sealed to %q", s)
	}
}
