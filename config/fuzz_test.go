package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"codeberg.org/passerelle/passerelle/internal/fuzzbound"
)

// FuzzLoad loads configuration files, seeded with passerelle.example.toml
// (as TestExampleFileIsCompleteAndValid reads it). Beyond bounded time and
// memory: what check-config prints of a loaded file loads again to the
// same configuration (secrets as printed, redacted), and prints the same.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../passerelle.example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("public_url = \"https://file.example\"\nlisten = \":9000\"\n[federation]\nblock = [\"bad.example\"]\nsignature_window = \"1h\"\n"))
	f.Add([]byte("[mail]\nsmtp = \"smtps://p:pw@mail.example.org:465\"\nfrom = \"P <p@example.org>\"\n[database]\nurl = \"postgres://app:dbpw@db/passerelle\"\n"))
	f.Add([]byte("data_dir = \"a/../b\\u00e9\"\n[log]\nlevel = \"debug\"\nformat = 'json'\n[federation]\nallow = []\nlive_duration = \"-1h30m\"\n"))
	f.Add([]byte("[mail]\nsend_intervall = \"1s\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var cfg Config
		var err error
		fuzzbound.Check(t, len(data), fuzzbound.Limits{Base: 1 << 20, PerByte: 200}, func() { cfg, err = Load(path, nil) })
		if err != nil {
			return
		}
		printed := cfg.String()
		if err := os.WriteFile(path, []byte(printed), 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path, nil)
		if err != nil {
			t.Fatalf("printed configuration does not load: %v\n%s", err, printed)
		}
		want, got := printedValues(&cfg), printedValues(&back)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("load → print → load changed the configuration:\n got: %v\nwant: %v\nprinted:\n%s", got, want, printed)
		}
		if again := back.String(); again != printed {
			t.Fatalf("printing is not stable:\n%s\nthen:\n%s", printed, again)
		}
	})
}

// printedValues are c's values by key as String prints them: secrets
// redacted, the database URL as DatabaseURL resolves it, no list nil.
func printedValues(c *Config) map[string]any {
	out := map[string]any{}
	root := reflect.ValueOf(c).Elem()
	for _, k := range Keys() {
		v := root.FieldByIndex(k.field).Interface()
		switch {
		case k.Path == "database.url":
			v = Redact(c.DatabaseURL())
		case k.Secret:
			v = Redact(v.(string))
		}
		if s, ok := v.([]string); ok && s == nil {
			v = []string{}
		}
		out[k.Path] = v
	}
	return out
}
