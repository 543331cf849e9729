package redact

import "testing"

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:hunter2@db/passerelle":  "postgres://app:xxxxx@db/passerelle",
		"smtps://u:p%40ss@mail.example.org:465": "smtps://u:xxxxx@mail.example.org:465",
		"postgres://root@127.0.0.1/test":        "postgres://root@127.0.0.1/test",
		"sqlite://passerelle-data/p.db":         "sqlite://passerelle-data/p.db",
		"::not a url":                           "::not a url",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}
