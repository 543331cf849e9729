package mail

import (
	"bytes"
	"codeberg.org/passerelle/passerelle/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/peertube"
)

// liveEvent is the PeerTube dialect's scheduled live (a French stream),
// decoded as the federation inbox would; lang "en" makes it the same live
// announced in English, since no English live was captured.
func liveEvent(t *testing.T, lang string) *bridges.Event {
	t.Helper()
	raw, err := os.ReadFile("../bridges/peertube/testdata/live-scheduled-built.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := peertube.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if lang == "en" {
		ev.Language, ev.Title = "en", "Plenary assembly"
	}
	ev.ID, ev.OrganizerName, ev.TimeZone = 7, "Association des libristes", "Europe/Paris"
	return &ev
}

// TestComposeLiveGolden: the mails about a live to watch (PeerTube's
// scheduled lives: online, join mode external) say "watch" in the live's
// language, ask for no answer, and carry METHOD:PUBLISH (no ATTENDEE, no
// RSVP) instead of REQUEST; a cancellation stays a CANCEL.
func TestComposeLiveGolden(t *testing.T) {
	tests := []struct {
		kind   Kind
		lang   string
		method string
		// subject is the decoded Subject's start; want are phrases the
		// text part must hold.
		subject string
		want    []string
	}{
		{KindInvitation, "fr", "PUBLISH", "En direct : ", []string{"Il n'y a rien à répondre", "Regarder en ligne : http://peertube.test/videos/watch/", "Quand : vendredi 1 août 2025, 20:00–21:00 (Europe/Paris)"}},
		{KindInvitation, "en", "PUBLISH", "Live stream: ", []string{"There is nothing to answer", "Watch online: http://peertube.test/videos/watch/", "When:  Fri 1 August 2025, 20:00–21:00 (Europe/Paris)"}},
		{KindUpdate, "fr", "PUBLISH", "Direct modifié : ", []string{"Regarder en ligne : http://peertube.test/videos/watch/"}},
		{KindCancel, "en", "CANCEL", "Cancelled live stream: ", []string{"has been cancelled", "More:  http://peertube.test/videos/watch/"}},
		{KindExternal, "fr", "", "À regarder en ligne : ", []string{"Il n'y a pas d'inscription", "Regarder en ligne : http://peertube.test/videos/watch/"}},
	}
	for _, tt := range tests {
		name := "live-" + string(tt.kind) + "-" + tt.lang
		t.Run(name, func(t *testing.T) {
			ev := liveEvent(t, tt.lang)
			o := &Outgoing{
				Kind: tt.kind, Event: ev,
				From: "Passerelle <events@passerelle.example>", To: "jane.doe@example.net",
				ReplyTo:   "events+r-TOKEN123@passerelle.example",
				MessageID: "passerelle.invitation-9." + name + "@passerelle.example", Thread: "passerelle.invitation-9@passerelle.example",
				UnsubscribeURL: "https://passerelle.example/unsubscribe/UNSUB", PageURL: "https://passerelle.example/rsvp/TOKEN123",
				CalendarURL: "https://passerelle.example/feeds/personal/CAL.ics",
				Date:        time.Date(2025, 7, 20, 10, 0, 0, 0, time.UTC),
			}
			if got := o.Method(); got != tt.method {
				t.Fatalf("Method() = %q, want %q", got, tt.method)
			}
			if tt.method != "" {
				o.Calendar = testCalendar(t, o, tt.method)
			}
			raw, err := o.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", name+".eml"), raw)

			ent, err := message.Read(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			subject, err := (&gomail.Header{Header: ent.Header}).Subject()
			if err != nil || subject != tt.subject+ev.Title {
				t.Errorf("Subject %q (%v), want %q", subject, err, tt.subject+ev.Title)
			}
			in, err := Parse(bytes.NewReader(raw), 0)
			if err != nil {
				t.Fatal(err)
			}
			if in.Ignore != "" || len(in.Problems) > 0 {
				t.Errorf("own mail read as ignore=%q problems=%q", in.Ignore, in.Problems)
			}
			text := in.Text
			for _, want := range tt.want {
				if !strings.Contains(text, want) {
					t.Errorf("text part lacks %q:\n%s", want, text)
				}
			}
			// Nothing asks for an answer or a registration: no buttons,
			// no yes/no, no answer page.
			for _, unwanted := range []string{"Accept", "Decline", `"yes"`, "Register", "register on", "/rsvp/", "Your answer", "Votre réponse", "Where: online"} {
				if strings.Contains(text, unwanted) {
					t.Errorf("text part says %q:\n%s", unwanted, text)
				}
			}
			for _, link := range []string{"/rsvp/TOKEN123", "/feeds/personal/"} {
				if strings.Contains(string(raw), link) {
					t.Errorf("a live's mail links %s: there is nothing to answer", link)
				}
			}
			switch {
			case tt.method == "" && len(in.Calendars) != 0:
				t.Errorf("%s mail carries a calendar", tt.kind)
			case tt.method != "" && (len(in.Calendars) != 1 || in.Calendars[0].Method != tt.method):
				t.Fatalf("calendars %+v, want one %s", in.Calendars, tt.method)
			case tt.method == "PUBLISH":
				e := in.Calendars[0].Events[0]
				if len(e.Attendees) != 0 || e.Organizer != o.ReplyTo || e.UID != ev.APID {
					t.Errorf("PUBLISH event %+v: want no ATTENDEE, the reply address as ORGANIZER, UID %s", e, ev.APID)
				}
				if !strings.Contains(string(raw), "method=PUBLISH") {
					t.Error("text/calendar part's method parameter is not PUBLISH")
				}
			}
		})
	}
}

// TestWatchOnly: only an online event whose one link is where it is
// streamed is a live to watch; an online event that registers people on
// another site keeps asking them to register.
func TestWatchOnly(t *testing.T) {
	live := liveEvent(t, "fr")
	tests := []struct {
		name string
		edit func(*bridges.Event)
		want bool
	}{
		{"peertube live", func(*bridges.Event) {}, true},
		{"no registration URL", func(e *bridges.Event) { e.ExternalParticipationURL = "" }, true},
		{"registration elsewhere", func(e *bridges.Event) { e.ExternalParticipationURL = "https://tickets.example/webinar" }, false},
		{"free to join", func(e *bridges.Event) { e.JoinMode = bridges.JoinFree }, false},
		{"in person", func(e *bridges.Event) { e.Online = false }, false},
		{"no online link", func(e *bridges.Event) { e.OnlineURL = "" }, false},
	}
	for _, tt := range tests {
		ev := *live
		tt.edit(&ev)
		if got := ev.WatchOnly(); got != tt.want {
			t.Errorf("%s: WatchOnly = %v, want %v", tt.name, got, tt.want)
		}
		o := &Outgoing{Kind: KindInvitation, Event: &ev}
		if want := map[bool]string{true: "PUBLISH", false: "REQUEST"}[tt.want]; o.Method() != want {
			t.Errorf("%s: invitation method %q, want %q", tt.name, o.Method(), want)
		}
	}
}

func TestLiveLanguage(t *testing.T) {
	for tag, want := range map[string]string{"fr": "fr", "FR-ca": "fr", "en": "en", "de": "en", "": "en", " fr ": "fr"} {
		if got := liveLanguage(tag); got != want {
			t.Errorf("liveLanguage(%q) = %q, want %q", tag, got, want)
		}
	}
}

// TestComposeRegistrationElsewhere: an online event registering people on
// another site is not a live; its mails keep their REQUEST and wording.
func TestComposeRegistrationElsewhere(t *testing.T) {
	o := testOutgoing(t, KindExternal)
	o.Event.Online, o.Event.OnlineURL, o.Event.JoinMode = true, "https://visio.example/room", bridges.JoinExternal
	raw, err := o.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "=\r\n", "")
	if !strings.Contains(text, "takes registrations on its organisers' own site: https://tickets.example/apero") || strings.Contains(text, "Watch online") {
		t.Errorf("registration wording lost:\n%s", text)
	}
	if m := (&Outgoing{Kind: KindInvitation, Event: o.Event}).Method(); m != "REQUEST" {
		t.Errorf("invitation method %q, want REQUEST", m)
	}
}
