package mastodon

import (
	"codeberg.org/passerelle/passerelle/internal/golden"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
)

func paris(y int, m time.Month, d, h, min int) time.Time {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return time.Date(y, m, d, h, min, 0, 0, loc)
}

const longFR = `Venez découvrir les logiciels libres autour d'un café !

Au programme : installation de systèmes libres sur vos ordinateurs, démonstrations de Mobilizon, PeerTube et Mastodon, discussions sur la vie privée en ligne et la souveraineté numérique. Apportez votre ordinateur portable si vous souhaitez installer quelque chose, ou venez simplement poser vos questions. Des bénévoles de l'association seront présents toute l'après-midi pour vous accompagner, quel que soit votre niveau. L'entrée est libre et gratuite, dans la limite des places disponibles ; un goûter partagé clôturera la journée.`

func sampleEvents() map[string]*bridges.Event {
	return map[string]*bridges.Event{
		"fr-place": {
			APID: "https://mobilizon.example/events/5f1c", URL: "https://mobilizon.example/events/5f1c",
			Title: "Café libre", Language: "fr", TimeZone: "Europe/Paris",
			Start: paris(2025, time.March, 1, 14, 0), End: paris(2025, time.March, 1, 18, 30),
			DescriptionText: "Venez découvrir les logiciels libres autour d'un café !",
			Place:           &bridges.Place{Name: "La Cantine", Street: "11 rue de la Paix", PostalCode: "44000", Locality: "Nantes"},
			Tags:            []string{"logiciel libre", "Nantes"}, Category: "MEETING",
			Status: bridges.StatusConfirmed, Public: true,
		},
		"en-online": {
			APID: "https://gancio.example/federation/m/42", URL: "https://gancio.example/event/release-party",
			Title: "Release party", Language: "en-GB", TimeZone: "America/New_York", Online: true,
			Start: time.Date(2025, time.June, 20, 23, 0, 0, 0, time.UTC), End: time.Date(2025, time.June, 21, 1, 0, 0, 0, time.UTC),
			Summary: "We celebrate the 2.0 release, live on stream.",
			Tags:    []string{"#release", "FOSS"}, Status: bridges.StatusConfirmed, Public: true,
		},
		"en-multiday-cancelled": {
			APID: "https://mobilizon.example/events/9a", Title: "Spring camp",
			TimeZone: "Europe/Berlin", Start: time.Date(2025, time.April, 18, 8, 0, 0, 0, time.UTC),
			End:    time.Date(2025, time.April, 21, 15, 0, 0, 0, time.UTC),
			Place:  &bridges.Place{Locality: "Leipzig", Country: "Germany"},
			Status: bridges.StatusCancelled, Public: true,
		},
		// Text from the organiser's server that names accounts and tags:
		// neither may mention nor tag from the community's account.
		"fr-mentions": {
			APID: "https://mobilizon.example/events/m1", URL: "https://mobilizon.example/events/m1",
			Title: "Apéro avec @alice@evil.example #Gratuit", Language: "fr", TimeZone: "Europe/Paris",
			Start:           paris(2025, time.May, 2, 19, 0),
			DescriptionText: "Organisé par @bob et @carol@mastodon.example (#spam, #Nantes). Écrire à contact@asso.example ou voir https://mastodon.example/@dave et https://asso.example/#agenda",
			Place:           &bridges.Place{Name: "Chez @eve@bar.example", Locality: "Nantes"},
			Tags:            []string{"Nantes"}, Status: bridges.StatusConfirmed, Public: true,
		},
		"fr-long-trimmed": {
			APID: "https://mobilizon.example/events/long", URL: "https://mobilizon.example/events/long-with-a-link-much-longer-than-the-reserved-length-of-twenty-three",
			Title: "Install party au Fablab", Language: "fr", TimeZone: "Europe/Paris",
			Start: paris(2025, time.November, 1, 13, 30), End: paris(2025, time.November, 1, 19, 0),
			DescriptionText: longFR, Place: &bridges.Place{Name: "Fablab", Locality: "Rennes"},
			Tags: []string{"install party", "GNU/Linux"}, Status: bridges.StatusConfirmed, Public: true,
		},
	}
}

func TestComposeGolden(t *testing.T) {
	tp, err := ParseTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	limits := map[string]Limits{
		"mastodon500":   {MaxCharacters: 500, ReservedPerURL: 23},
		"gotosocial500": {MaxCharacters: 500, ReservedPerURL: 25},
		"mastodon300":   {MaxCharacters: 300, ReservedPerURL: 23},
	}
	for name, ev := range sampleEvents() {
		for lname, lim := range limits {
			t.Run(name+"/"+lname, func(t *testing.T) {
				got, err := tp.Compose(ev, lim)
				if err != nil {
					t.Fatal(err)
				}
				if n := lim.Length(got); n > lim.MaxCharacters {
					t.Errorf("length %d over %d", n, lim.MaxCharacters)
				}
				link := ev.URL
				if link == "" {
					link = ev.APID
				}
				if !strings.Contains(got, link) {
					t.Errorf("the link %s was lost", link)
				}
				golden.Check(t, filepath.Join("testdata", "status", name+"."+lname+".txt"), []byte(got))
			})
		}
	}
}

func TestTrimKeepsWhatMatters(t *testing.T) {
	tp, _ := ParseTemplate("")
	ev := sampleEvents()["fr-long-trimmed"]
	got, err := tp.Compose(ev, Limits{MaxCharacters: 300, ReservedPerURL: 23})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Install party au Fablab", "samedi 1er novembre 2025, 13:30–19:00 (Europe/Paris)", "Fablab, Rennes", "…", "#InstallParty"} {
		if !strings.Contains(got, want) {
			t.Errorf("trimmed status lacks %q:\n%s", want, got)
		}
	}
	// Too small for anything but the link: a clear error, not a broken link.
	if _, err := tp.Compose(ev, Limits{MaxCharacters: 30, ReservedPerURL: 23}); err == nil || !strings.Contains(err.Error(), "cannot fit in 30") {
		t.Errorf("tiny limit: %v", err)
	}
}

func TestNoPlaceNoLine(t *testing.T) {
	tp, _ := ParseTemplate("")
	ev := &bridges.Event{APID: "https://x.example/e/1", Title: "Somewhere", Start: time.Date(2025, 2, 3, 10, 0, 0, 0, time.UTC)}
	got, err := tp.Compose(ev, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Somewhere\n\n📅 Monday, February 3, 2025, 10:00 AM (UTC)\n\n🔗 https://x.example/e/1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		text, err string
	}{
		{"{{.Title}} {{.Link}}", ""},
		{"{{.Title}", "status template: template: status:1: bad character"},
		{"{{.Titel}} {{.Link}}", "can't evaluate field Titel"},
		{"{{.Title}} only", "it must show {{.Link}}"},
	}
	for _, tt := range tests {
		_, err := ParseTemplate(tt.text)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.text, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: error %v, want one containing %q", tt.text, err, tt.err)
		}
	}
}

func TestHashtags(t *testing.T) {
	ev := &bridges.Event{Tags: []string{"logiciel libre", "Jazz", "jazz", "#Café-concert", "2025", "GNU/Linux"}, Category: "PARTY"}
	got := strings.Join(Hashtags(ev), " ")
	if want := "#LogicielLibre #Jazz #CaféConcert #GNULinux #Party"; got != want {
		t.Errorf("Hashtags = %q, want %q", got, want)
	}
}

func TestNeutralise(t *testing.T) {
	const wj = "\u2060"
	own := map[string]bool{"nantes": true, "logiciellibre": true}
	for _, tc := range []struct{ in, want string }{
		{"avec @alice@evil.example !", "avec @" + wj + "alice@evil.example !"},
		{"@bob en tête", "@" + wj + "bob en tête"},
		{"(@bob)", "(@" + wj + "bob)"},
		{"#spam et #Nantes, #LogicielLibre", "#" + wj + "spam et #Nantes, #LogicielLibre"},
		{"＃全角", "＃" + wj + "全角"},
		{"#Nantes_44 #nantes", "#" + wj + "Nantes_44 #nantes"},
		// What Mastodon would not link stays as it is.
		{"contact@asso.example", "contact@asso.example"},
		{"https://mastodon.example/@dave", "https://mastodon.example/@dave"},
		{"https://asso.example/#agenda", "https://asso.example/#agenda"},
		{"page#section a=@x (x)#y", "page#section a=@x (x)#y"},
		{"# titre, @ 19h", "# titre, @ 19h"},
		{"", ""},
	} {
		if got := Neutralise(tc.in, own); got != tc.want {
			t.Errorf("Neutralise(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStatusMentionsNothing: a status and a reply built from remote text
// hold no @ or # that Mastodon's patterns would link, but the event's
// own hashtags.
func TestStatusMentionsNothing(t *testing.T) {
	ev := sampleEvents()["fr-mentions"]
	tp, err := ParseTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	status, err := tp.Compose(ev, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	mention := regexp.MustCompile(`(?:^|[^=/\pL\pM\pN_])@[a-zA-Z0-9_]`)
	hashtag := regexp.MustCompile(`(?:^|[^=/)\pL\pM\pN_])[#＃]([\pL\pM\pN_]+)`)
	for name, text := range map[string]string{"status": status, "reply": replyText(ev, labels["fr"].CancelReply, DefaultLimits)} {
		if m := mention.FindString(text); m != "" {
			t.Errorf("%s mentions %q:\n%s", name, m, text)
		}
		for _, m := range hashtag.FindAllStringSubmatch(text, -1) {
			if m[1] != "Nantes" {
				t.Errorf("%s tags #%s, not the event's:\n%s", name, m[1], text)
			}
		}
	}
	if !strings.Contains(status, "\n\n#Nantes") {
		t.Errorf("the event's own hashtag is missing:\n%s", status)
	}
}
