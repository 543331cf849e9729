package peertube

import (
	"errors"
	"strings"
	"testing"
	"time"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/bridges/asevent/eventtest"
)

func TestGolden(t *testing.T) {
	eventtest.Golden(t, Decode)
}

func decodeFile(t *testing.T, name string) bridges.Event {
	t.Helper()
	ev, err := Decode(eventtest.Load(t, name))
	if err != nil {
		t.Fatalf("Decode %s: %v", name, err)
	}
	return ev
}

func TestRealVideosAreIgnored(t *testing.T) {
	for _, name := range []string{
		"video-object-tilvids.com-2025.json",
		"video-object-peertube.test-2024.json",
		"video-object-peertube.moe-2018.json",
		"video-object-peertube.stream-2023-livechat-plugin-field.json",
		"create-video-framatube.org-2020.json",
		"create-video-hls-only-peertube.stream-2021.json",
		"update-video-peertube.test-2024.json",
		"announce-video-by-channel-tilvids.com-2025.json",
		"note-comment-video.antopie.org-2022.json",
		"live-no-schedules-built.json",
		"live-empty-schedules-built.json",
	} {
		if _, err := Decode(eventtest.Load(t, name)); !errors.Is(err, bridges.ErrNotAnEvent) {
			t.Errorf("%s: err = %v, want bridges.ErrNotAnEvent", name, err)
		}
	}
}

func TestScheduledLive(t *testing.T) {
	ev := decodeFile(t, "live-scheduled-built.json")
	start := time.Date(2025, 8, 1, 18, 0, 0, 0, time.UTC)
	checks := []struct {
		what      string
		got, want any
	}{
		{"start from schedules[0]", ev.Start, start},
		{"default duration 1h", ev.End, start.Add(time.Hour)},
		{"no zone", ev.TimeZone, ""},
		{"watch page", ev.URL, "http://peertube.test/videos/watch/3c0f2a4e-7b1d-4c55-9e8a-1f2b3c4d5e6f"},
		{"online URL = watch page", ev.OnlineURL, ev.URL},
		{"online", ev.Online, true},
		{"join mode", ev.JoinMode, bridges.JoinExternal},
		{"register = watch", ev.ExternalParticipationURL, ev.URL},
		{"banner = widest icon", ev.BannerURL, "http://peertube.test/lazy-static/previews/cdcb5319-eb33-4fa8-bc01-9c41553632dd.jpg"},
		{"language", ev.Language, "fr"},
		{"category", ev.Category, "News & Politics"},
		{"channel as organiser", ev.OrganizerURL, "http://peertube.test/video-channels/root_channel"},
		{"organiser name left to the caller", ev.OrganizerName, ""},
		{"tags", strings.Join(ev.Tags, ","), "etiquette1,etiquette2"},
		{"public", ev.Public, true},
		{"status", ev.Status, bridges.StatusConfirmed},
		{"no place", ev.Place == nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
	wantText := "L'assemblée est retransmise en direct.\nOrdre du jour :\n\n- budget\n- élections\n\nInfos : https://asso.example/ag"
	if ev.DescriptionText != wantText {
		t.Errorf("DescriptionText = %q, want %q", ev.DescriptionText, wantText)
	}
	if !strings.Contains(ev.DescriptionHTML, "<strong>retransmise</strong>") || !strings.Contains(ev.DescriptionHTML, `<a href="https://asso.example/ag"`) {
		t.Errorf("DescriptionHTML = %q, want Markdown rendered with the bare link linked", ev.DescriptionHTML)
	}
}

func TestLiveDurationConfigurable(t *testing.T) {
	ev, err := Dialect{LiveDuration: 90 * time.Minute}.Decode(eventtest.Load(t, "live-scheduled-built.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.End.Sub(ev.Start); got != 90*time.Minute {
		t.Errorf("duration = %v, want 1h30m", got)
	}
}

func TestRescheduled(t *testing.T) {
	before := decodeFile(t, "live-scheduled-built.json")
	after := decodeFile(t, "update-live-rescheduled-built.json")
	if after.APID != before.APID {
		t.Fatalf("the Update is about %s, not %s", after.APID, before.APID)
	}
	if want := time.Date(2025, 8, 8, 18, 30, 0, 0, time.UTC); !after.Start.Equal(want) {
		t.Errorf("rescheduled start = %v, want %v", after.Start, want)
	}
	if !after.Updated.After(before.Updated) {
		t.Errorf("updated %v not after %v: the core would ignore the reschedule", after.Updated, before.Updated)
	}
	if before.MaterialDigest() == after.MaterialDigest() {
		t.Error("rescheduling is not a material change")
	}
}

func TestEndedLiveEndsWhenItEnded(t *testing.T) {
	ev := decodeFile(t, "live-ended-built.json")
	if want := time.Date(2025, 8, 1, 19, 47, 12, 0, time.UTC); !ev.End.Equal(want) {
		t.Errorf("End = %v, want the Update's time %v", ev.End, want)
	}
	if want := time.Date(2025, 8, 1, 18, 0, 0, 0, time.UTC); !ev.Start.Equal(want) {
		t.Errorf("Start = %v, want the schedule %v, not the reset published time", ev.Start, want)
	}
	if !ev.Over(time.Date(2025, 8, 1, 20, 0, 0, 0, time.UTC)) {
		t.Error("an ended live is not over after it ended")
	}
}

func TestPermanentLive(t *testing.T) {
	ev := decodeFile(t, "live-permanent-built.json")
	if want := time.Date(2025, 9, 4, 17, 0, 0, 0, time.UTC); !ev.Start.Equal(want) {
		t.Errorf("Start = %v, want %v", ev.Start, want)
	}
}

func TestStringAttributedTo(t *testing.T) {
	ev := decodeFile(t, "live-string-attributedto-built.json")
	if ev.OrganizerURL != "http://peertube.test/video-channels/root_channel" {
		t.Errorf("OrganizerURL = %q, want the channel", ev.OrganizerURL)
	}
	if ev.URL != "http://peertube.test/w/fakeShortUUID1234567" {
		t.Errorf("URL = %q, want the first text/html link", ev.URL)
	}
	if ev.Summary != "Contient des images de manifestation" {
		t.Errorf("Summary = %q", ev.Summary)
	}
	if want := time.Date(2025, 10, 2, 16, 0, 0, 0, time.UTC); !ev.Start.Equal(want) {
		t.Errorf("Start = %v, want schedules[0] %v", ev.Start, want)
	}
}

func TestChannelFallbacks(t *testing.T) {
	live := `{"type":"Video","id":"https://pt.example/videos/watch/1","name":"n","isLiveBroadcast":true,"schedules":[{"startDate":"2025-08-01T18:00:00.000Z"}],"attributedTo":%s}`
	tests := map[string]string{
		`[{"type":"Group","id":"https://pt.example/c/x"},{"type":"Person","id":"https://pt.example/a/y"}]`: "https://pt.example/c/x",
		`["https://pt.example/a/y","https://pt.example/c/x"]`:                                              "https://pt.example/c/x",
		`"https://pt.example/video-channels/x"`:                                                            "https://pt.example/video-channels/x",
	}
	for at, want := range tests {
		ev, err := Decode([]byte(strings.Replace(live, "%s", at, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if ev.OrganizerURL != want {
			t.Errorf("attributedTo %s: organiser %q, want %q", at, ev.OrganizerURL, want)
		}
	}
}

func TestMalformed(t *testing.T) {
	base := `{"type":"Video","id":"https://pt.example/videos/watch/1","name":"n","isLiveBroadcast":true%s}`
	tests := []struct{ extra, field string }{
		{`,"schedules":{"startDate":"2025-08-01T18:00:00Z"}`, "schedules:"},
		{`,"schedules":["2025-08-01T18:00:00Z"]`, "schedules[0]:"},
		{`,"schedules":[{"startDate":"next week"}]`, "schedules[0].startDate:"},
		{`,"schedules":[{}]`, "schedules[0].startDate:"},
		{`,"schedules":[{"startDate":"2025-08-01T18:00:00Z"}],"name":""`, "name:"},
		{`,"schedules":[{"startDate":"2025-08-01T18:00:00Z"}],"state":"live"`, "state:"},
		{`,"schedules":[{"startDate":"2025-08-01T18:00:00Z"}],"updated":"yesterday"`, "updated:"},
	}
	for _, tt := range tests {
		doc := strings.Replace(base, "%s", tt.extra, 1)
		if strings.Contains(tt.extra, `"name":""`) {
			doc = strings.Replace(doc, `"name":"n",`, "", 1)
		}
		_, err := Decode([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), tt.field) || errors.Is(err, bridges.ErrNotAnEvent) {
			t.Errorf("Decode(%s) = %v, want an error naming %q", doc, err, tt.field)
		}
	}
	_, err := Decode([]byte(`{"type":"Video","id":"https://pt.example/videos/watch/1","name":"n","isLiveBroadcast":"yes"}`))
	if err == nil || !strings.Contains(err.Error(), "isLiveBroadcast") {
		t.Errorf("non-boolean isLiveBroadcast: err = %v", err)
	}
}
