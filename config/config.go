// Package config holds passerelle's configuration: typed keys with their
// defaults, loaded from a TOML file, then PASSERELLE_* environment
// variables, then command-line flags, and validated so that a wrong value is
// reported with the key that holds it and what would be right.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"codeberg.org/passerelle/passerelle/internal/redact"
)

// Config is the whole configuration. The TOML key of each field is its
// `toml` tag; nested tables are sections ("database.url").
type Config struct {
	// PublicURL is where people and servers reach this instance; its host
	// is the federated domain.
	PublicURL string `toml:"public_url"`
	// Listen is the HTTP listen address.
	Listen string `toml:"listen"`
	// DataDir holds the SQLite database (by default) and other local state.
	DataDir    string     `toml:"data_dir"`
	Instance   Instance   `toml:"instance"`
	Database   Database   `toml:"database"`
	Log        Log        `toml:"log"`
	Federation Federation `toml:"federation"`
	Mail       Mail       `toml:"mail"`
	Metrics    Metrics    `toml:"metrics"`
}

// Instance is how the public pages present this passerelle.
type Instance struct {
	Name        string `toml:"name"`
	Description string `toml:"description"`
	// Secret derives the participants' calendar passwords (at least 32
	// characters). Empty: passerelle keeps one in data_dir/secret, made at
	// first start; replicas on several machines must share one.
	Secret string `toml:"secret" secret:"text"`
}

// Database says where passerelle keeps its state.
type Database struct {
	// URL is sqlite://PATH (all after sqlite:// is a file path, relative
	// allowed) or postgres://…; empty means SQLite in DataDir.
	URL string `toml:"url" secret:"url"`
}

// Log configures structured logging.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Duration is a time.Duration written as "12h", "30s" in TOML and env.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration such as \"90s\" or \"12h\": %q", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Default returns the configuration used when nothing is set: a server on
// 127.0.0.1:8080 with SQLite under ./passerelle-data.
func Default() Config {
	return Config{
		PublicURL: "http://localhost:8080",
		Listen:    "127.0.0.1:8080",
		DataDir:   "passerelle-data",
		Instance:  Instance{Name: "passerelle"},
		Log:       Log{Level: "info", Format: "text"},
		Federation: Federation{
			ActorName:       "passerelle",
			SignatureWindow: Duration(12 * time.Hour),
			LiveDuration:    Duration(time.Hour),
		},
		Mail: Mail{SendInterval: Duration(200 * time.Millisecond), ConfirmWait: Duration(2 * time.Minute)},
	}
}

// Error is a configuration problem: where it is (file and line when the
// file says it) and which key.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// DefaultFile is read when no --config is given and it exists.
const DefaultFile = "passerelle.toml"

// Load reads the configuration: defaults, then the file (path, or
// ./passerelle.toml when path is empty and that file exists), then the
// environment. Flags are applied by the caller with Set, then Validate.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	explicit := path != ""
	if !explicit {
		path = DefaultFile
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decodeFile(&cfg, path, data); err != nil {
			return cfg, err
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return cfg, &Error{File: path, Msg: fmt.Sprintf("cannot read the configuration file: %v", err)}
	}
	if err := cfg.applyEnv(environ); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func decodeFile(cfg *Config, path string, data []byte) error {
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(cfg)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		var errs []error
		for _, e := range strict.Errors {
			line, _ := e.Position()
			key := strings.Join(e.Key(), ".")
			errs = append(errs, &Error{File: path, Line: line, Key: key, Msg: "unknown key" + suggest(key)})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return &Error{File: path, Line: line, Key: strings.Join(de.Key(), "."), Msg: strings.TrimPrefix(de.Error(), "toml: ")}
	}
	return &Error{File: path, Msg: err.Error()}
}

// suggest names the known key or section closest to an unknown one, for
// typos ("log.levl", or a whole section such as [federaton]).
func suggest(unknown string) string {
	best, bestD := "", 4
	consider := func(name string) {
		if d := editDistance(unknown, name); d < bestD {
			best, bestD = name, d
		}
	}
	for _, k := range Keys() {
		consider(k.Path)
		if i := strings.LastIndexByte(k.Path, '.'); i > 0 {
			consider(k.Path[:i])
		}
	}
	if best == "" {
		return ""
	}
	if _, isKey := keyByPath(best); !isKey {
		return fmt.Sprintf(" (did you mean the section [%s]?)", best)
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// suggestEnv names the known variable closest to an unknown PASSERELLE_
// one.
func suggestEnv(unknown string) string {
	best, bestD := "", 4
	for _, k := range Keys() {
		if d := editDistance(unknown, k.Env); d < bestD {
			best, bestD = k.Env, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("did you mean %s? ", best)
}

func keyByPath(path string) (Key, bool) {
	for _, k := range Keys() {
		if k.Path == path {
			return k, true
		}
	}
	return Key{}, false
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Key is one configuration key, found by walking Config's `toml` tags.
type Key struct {
	// Path is the TOML key path ("database.url").
	Path string
	// Env is its environment variable ("PASSERELLE_DATABASE_URL").
	Env string
	// Secret keys hold passwords or tokens and are never printed whole.
	Secret bool
	// secretText keys are printed as xxxxx (secret:"text"); the others
	// are URLs, printed with the password hidden.
	secretText bool
	field      []int
}

// Keys lists every configuration key in declaration order.
func Keys() []Key {
	var keys []Key
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("toml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			idx := append(append([]int{}, index...), i)
			path := prefix + name
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
				walk(f.Type, path+".", idx)
				continue
			}
			keys = append(keys, Key{
				Path:       path,
				Env:        "PASSERELLE_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_")),
				Secret:     f.Tag.Get("secret") != "",
				secretText: f.Tag.Get("secret") == "text",
				field:      idx,
			})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return keys
}

// applyEnv sets keys from PASSERELLE_* variables. Variables of the tests
// (PASSERELLE_TEST_*, PASSERELLE_REQUIRE_ALL) are not configuration; any
// other unknown PASSERELLE_ variable is an error, since a typo must not pass
// silently.
func (c *Config) applyEnv(environ []string) error {
	byEnv := map[string]Key{}
	for _, k := range Keys() {
		byEnv[k.Env] = k
	}
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PASSERELLE_") || strings.HasPrefix(name, "PASSERELLE_TEST_") || name == "PASSERELLE_REQUIRE_ALL" {
			continue
		}
		k, ok := byEnv[name]
		if !ok {
			errs = append(errs, &Error{Key: name, Msg: "unknown environment variable (" + suggestEnv(name) + "see passerelle.example.toml for the keys; PASSERELLE_ + key path upper-cased, dots as underscores)"})
			continue
		}
		if err := c.set(k, value); err != nil {
			errs = append(errs, &Error{Key: name, Msg: err.Error()})
		}
	}
	return errors.Join(errs...)
}

// Set sets one key by its TOML path from text, as a flag would.
func (c *Config) Set(path, value string) error {
	for _, k := range Keys() {
		if k.Path == path {
			if err := c.set(k, value); err != nil {
				return &Error{Key: path, Msg: err.Error()}
			}
			return nil
		}
	}
	return &Error{Key: path, Msg: "unknown key" + suggest(path)}
}

func (c *Config) set(k Key, value string) error {
	v := reflect.ValueOf(c).Elem().FieldByIndex(k.field)
	if u, ok := v.Addr().Interface().(interface{ UnmarshalText([]byte) error }); ok {
		return u.UnmarshalText([]byte(value))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", value)
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", value)
		}
		v.SetInt(int64(n))
	case reflect.Slice:
		var list []string
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("cannot be set from text (kind %s)", v.Kind())
	}
	return nil
}

// DatabaseURL is database.url, or SQLite in the data folder when unset.
func (c *Config) DatabaseURL() string {
	if c.Database.URL != "" {
		return c.Database.URL
	}
	return "sqlite://" + filepath.Join(c.DataDir, "passerelle.db")
}

// Host is the federated domain: public_url's host, with its port when it
// has one.
func (c *Config) Host() string {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// Validate checks every key and reports all wrong values at once, each with
// its key and what would be right.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, msg string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(msg, args...)})
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		bad("public_url", "want the absolute http(s) URL of this instance without a path, such as https://events.example.org; got %q", c.PublicURL)
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad("listen", "want host:port such as 127.0.0.1:8080 or :8080; got %q", c.Listen)
	}
	if strings.TrimSpace(c.Instance.Name) == "" {
		bad("instance.name", "must not be empty: it titles the public pages")
	}
	c.Metrics.validate(bad)
	if n := len(c.Instance.Secret); n > 0 && n < 32 {
		bad("instance.secret", "is %d characters; use at least 32 random ones (e.g. the output of `openssl rand -hex 32`), or leave it empty to keep one in data_dir/secret", n)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must name a folder, such as /var/lib/passerelle")
	}
	if u := c.DatabaseURL(); !strings.HasPrefix(u, "sqlite://") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		bad("database.url", "want sqlite://PATH or postgres://user@host/db; got %q", Redact(u))
	} else if u == "sqlite://" {
		bad("database.url", "sqlite:// needs a file path after it, such as sqlite:///var/lib/passerelle/passerelle.db")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "want debug, info, warn or error; got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "want text or json; got %q", c.Log.Format)
	}
	errs = append(errs, c.Federation.validate()...)
	errs = append(errs, c.Mail.validate()...)
	return errors.Join(errs...)
}

func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && strings.Contains(a.Address, "@")
}

// Redact hides the password of a URL (user:pass@ → user:xxxxx@), for
// logs and error messages.
func Redact(raw string) string { return redact.URL(raw) }

// String renders the effective configuration as TOML with secrets
// redacted, for `passerelle check-config`.
func (c *Config) String() string {
	var b strings.Builder
	section := ""
	root := reflect.ValueOf(c).Elem()
	for _, k := range Keys() {
		if i := strings.LastIndex(k.Path, "."); i >= 0 {
			if s := k.Path[:i]; s != section {
				section = s
				fmt.Fprintf(&b, "\n[%s]\n", s)
			}
		}
		name := k.Path[strings.LastIndex(k.Path, ".")+1:]
		v := root.FieldByIndex(k.field)
		val := v.Interface()
		if k.Secret {
			val = Redact(v.String())
			if k.secretText && v.String() != "" {
				val = "xxxxx"
			}
		}
		if k.Path == "database.url" {
			val = Redact(c.DatabaseURL())
		}
		if m, ok := val.(interface{ MarshalText() ([]byte, error) }); ok {
			t, _ := m.MarshalText()
			val = string(t)
		}
		out, err := toml.Marshal(map[string]any{name: val})
		if err != nil {
			fmt.Fprintf(&b, "%s = %q\n", name, fmt.Sprint(val))
			continue
		}
		b.Write(out)
	}
	return b.String()
}
