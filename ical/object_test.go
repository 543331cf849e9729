package ical

import (
	"testing"
	"time"
)

func TestParseObjectSpan(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, tc := range []struct {
		name, vevent string
		start, end   time.Time
	}{
		{"DTEND in a zone", "DTSTART;TZID=Europe/Paris:20250330T013000\r\nDTEND;TZID=Europe/Paris:20250330T033000\r\n",
			time.Date(2025, 3, 30, 1, 30, 0, 0, paris), time.Date(2025, 3, 30, 3, 30, 0, 0, paris)},
		{"DURATION", "DTSTART:20250601T100000Z\r\nDURATION:P1DT2H30M\r\n",
			time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC), time.Date(2025, 6, 2, 12, 30, 0, 0, time.UTC)},
		{"a week", "DTSTART:20250601T100000Z\r\nDURATION:P1W\r\n",
			time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC), time.Date(2025, 6, 8, 10, 0, 0, 0, time.UTC)},
		{"all-day date alone", "DTSTART;VALUE=DATE:20250601\r\n",
			time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)},
		{"instant", "DTSTART:20250601T100000Z\r\n",
			time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Caf\\, libre\r\n" + tc.vevent +
				"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
			cal, err := ParseObject([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if cal.Name != "VCALENDAR" || len(cal.Children) != 1 || cal.Children[0].Name != "VEVENT" {
				t.Fatalf("tree %+v", cal)
			}
			ev := cal.Children[0]
			if len(ev.Children) != 1 || ev.Children[0].Name != "VALARM" {
				t.Errorf("VEVENT children %+v, want one VALARM", ev.Children)
			}
			if s := ev.Prop("SUMMARY"); len(s) != 1 || s[0].Text() != "Caf, libre" {
				t.Errorf("SUMMARY %+v, want the text unescaped", s)
			}
			start, end, err := ev.Span()
			if err != nil || !start.Equal(tc.start) || !end.Equal(tc.end) {
				t.Errorf("span %v – %v (%v), want %v – %v", start, end, err, tc.start, tc.end)
			}
		})
	}
}

func TestParseDurationRefusesWhatIsNotOne(t *testing.T) {
	for _, s := range []string{"", "P", "PT", "1H", "PT1", "PTH", "P1H", "PT1D", "P99999999999D"} {
		if d, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", s, d)
		}
	}
	if d, err := parseDuration("-PT15M"); err != nil || d != -15*time.Minute {
		t.Errorf("-PT15M = %v, %v", d, err)
	}
}
