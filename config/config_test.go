package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.toml")
	os.WriteFile(file, []byte("public_url = \"https://file.example\"\nlisten = \":9000\"\n[federation]\nblock = [\"bad.example\"]\nsignature_window = \"1h\"\n"), 0o600)
	cfg, err := Load(file, []string{
		"PASSERELLE_LISTEN=127.0.0.1:9001",
		"PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS=true",
		"PASSERELLE_FEDERATION_ALLOW=a.example, b.example",
		"PASSERELLE_TEST_POSTGRES=postgres://ignored", // the tests' own
		"PASSERELLE_REQUIRE_ALL=1",
		"HOME=/root",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Set("log.level", "debug"); err != nil { // a flag
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.PublicURL != "https://file.example" || cfg.Listen != "127.0.0.1:9001" || cfg.Log.Level != "debug" ||
		!cfg.Federation.AllowPrivateNetworks || strings.Join(cfg.Federation.Allow, "|") != "a.example|b.example" ||
		strings.Join(cfg.Federation.Block, "|") != "bad.example" || time.Duration(cfg.Federation.SignatureWindow) != time.Hour {
		t.Errorf("layering gave %+v", cfg)
	}
	if cfg.Host() != "file.example" {
		t.Errorf("Host() = %q", cfg.Host())
	}
}

func TestDefaultsAreValidAndUseSQLite(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL() != "sqlite://passerelle-data/passerelle.db" || cfg.Listen != "127.0.0.1:8080" || cfg.PublicURL != "http://localhost:8080" {
		t.Errorf("defaults: %s %s %s", cfg.DatabaseURL(), cfg.Listen, cfg.PublicURL)
	}
}

func TestValidateNamesEveryBadKey(t *testing.T) {
	cfg := Default()
	cfg.PublicURL = "events.example.org"
	cfg.Database.URL = "mysql://x"
	cfg.Log.Format = "xml"
	cfg.Mail.SMTP = "smtp://relay:25"
	cfg.Mail.IMAP = "pop3://x"
	cfg.Federation.Block = []string{"https://bad.example/"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"public_url:", "database.url:", "log.format:", "mail.from: must be set", "mail.imap:", "federation.block:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestEveryKeyHasAnEnvironmentName(t *testing.T) {
	want := map[string]string{
		"public_url": "PASSERELLE_PUBLIC_URL", "database.url": "PASSERELLE_DATABASE_URL",
		"log.level": "PASSERELLE_LOG_LEVEL", "mail.reply_address": "PASSERELLE_MAIL_REPLY_ADDRESS",
		"federation.allow_private_networks": "PASSERELLE_FEDERATION_ALLOW_PRIVATE_NETWORKS",
	}
	got := map[string]string{}
	for _, k := range Keys() {
		got[k.Path] = k.Env
	}
	for path, env := range want {
		if got[path] != env {
			t.Errorf("%s ↔ %q, want %s", path, got[path], env)
		}
	}
}

func TestStringRedactsAndRoundTrips(t *testing.T) {
	cfg := Default()
	cfg.Mail.From = "P <p@example.org>"
	cfg.Mail.SMTP = "smtps://p:pw@mail.example.org:465"
	cfg.Database.URL = "postgres://app:dbpw@db/passerelle"
	out := cfg.String()
	if strings.Contains(out, "pw@") && (strings.Contains(out, ":pw@") || strings.Contains(out, "dbpw")) {
		t.Fatalf("secret printed:\n%s", out)
	}
	// What check-config prints is itself a valid configuration file.
	path := filepath.Join(t.TempDir(), "printed.toml")
	os.WriteFile(path, []byte(out), 0o600)
	back, err := Load(path, nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	if back.Mail.From != cfg.Mail.From || back.Log != cfg.Log || back.Federation.SignatureWindow != cfg.Federation.SignatureWindow {
		t.Errorf("round trip lost values:\n%s", out)
	}
}

func TestExampleFileIsCompleteAndValid(t *testing.T) {
	data, err := os.ReadFile("../passerelle.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("../passerelle.example.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	// Every key is documented in the example, commented out or set.
	for _, k := range Keys() {
		name := k.Path[strings.LastIndex(k.Path, ".")+1:]
		if !strings.Contains(string(data), name+" =") {
			t.Errorf("passerelle.example.toml does not document %s", k.Path)
		}
	}
}

func TestReadmeShowsTheExampleFile(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../passerelle.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```toml\n"+string(example)+"```") {
		t.Error("README.md's configuration block differs from passerelle.example.toml: copy the file into it again")
	}
}

// TestTyposGetASuggestion: a mistyped key, section or environment variable
// is an error that names what was probably meant (issue 14, point 10).
func TestTyposGetASuggestion(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(file, []byte("[federaton]\nblock = [\"x.example\"]\n[log]\nlevl = \"info\"\n"), 0o600)
	_, err := Load(file, nil)
	for _, want := range []string{`p.toml:1: federaton: unknown key (did you mean the section [federation]?)`, `p.toml:4: log.levl: unknown key (did you mean "log.level"?)`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("file typos: %v\nwant %s", err, want)
		}
	}
	_, err = Load("", []string{"PASSERELLE_FEDERATON_BLOCK=x.example", "PASSERELLE_LOG_LEVL=debug", "PASSERELLE_NOTHING_LIKE_IT=1"})
	for _, want := range []string{"PASSERELLE_FEDERATON_BLOCK: unknown environment variable (did you mean PASSERELLE_FEDERATION_BLOCK?",
		"PASSERELLE_LOG_LEVL: unknown environment variable (did you mean PASSERELLE_LOG_LEVEL?", "PASSERELLE_NOTHING_LIKE_IT: unknown environment variable (see"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("environment typos: %v\nwant %s", err, want)
		}
	}
}
