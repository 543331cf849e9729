package mail

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/passerelle/passerelle/bridges"
)

// TestParseFixtures reads every real mail in testdata/imip (copied from
// /work/shared/fixtures/imip, see its README) and checks what the RSVP
// flow would be told.
func TestParseFixtures(t *testing.T) {
	type want struct {
		from      string
		methods   string // methods of the calendars found, comma-joined
		answers   []bridges.CalendarAnswer
		automatic bool
		problem   string // a substring of a reported problem
	}
	ans := func(uid, who string, a bridges.Answer) []bridges.CalendarAnswer {
		return []bridges.CalendarAnswer{{UID: uid, Attendee: who, Answer: a}}
	}
	const gmailUID = "14ef516ad2e6ce325d5c8efcf9d7ddbfa30f9d15"
	const android = "6C5861338FC94376B376095E9884760B00000000000000000000000000000000"
	tests := map[string]want{
		// Google marks its replies Auto-Submitted: auto-generated; their
		// calendar still counts. The calendar comes twice (inline and
		// invite.ics): one answer.
		"gmail-reply-accepted.eml":  {from: "tcataldo@gmail.com", methods: "REPLY", automatic: true, answers: ans(gmailUID, "tcataldo@gmail.com", bridges.AnswerAccepted)},
		"gmail-reply-declined.eml":  {from: "tcataldo@gmail.com", methods: "REPLY", automatic: true, answers: ans(gmailUID, "tcataldo@gmail.com", bridges.AnswerDeclined)},
		"gmail-reply-tentative.eml": {from: "tcataldo@gmail.com", methods: "REPLY", automatic: true, answers: ans(gmailUID, "tcataldo@gmail.com", bridges.AnswerTentative)},
		// The VALARM's ATTENDEE (the organiser) is not an answer.
		"gmail-reply-accepted-fr-valarm.eml": {from: "marieg@isynet.org", methods: "REPLY,REPLY", automatic: true,
			answers: ans("e76b4686c75efde6b17ea24cb98c8d59dca65063", "marieg@isynet.org", bridges.AnswerAccepted)},
		// MIME says method=REPLY, the body says COUNTER: a counter-proposal is no answer.
		"gmail-counter-fr.eml":             {from: "max@gmail.com", methods: "COUNTER,COUNTER", automatic: true},
		"apple-ios-reply-accepted-fr.eml":  {from: "admin@willow.vmw", methods: "REPLY", answers: ans("b84ce20", "admin@willow.vmw", bridges.AnswerAccepted)},
		"apple-ios-reply-declined-fr.eml":  {from: "admin@willow.vmw", methods: "REPLY", answers: ans("176dfc05", "admin@willow.vmw", bridges.AnswerDeclined)},
		"apple-ios-reply-tentative-fr.eml": {from: "admin@willow.vmw", methods: "REPLY", answers: ans("5b596379", "admin@willow.vmw", bridges.AnswerTentative)},
		// iCal 3 attaches the calendar without a method parameter.
		"apple-mail-ical3-reply-accepted-plus-token.eml": {from: "xyzzy@example.com", methods: "REPLY",
			answers: ans("1E71F9C8-AEDA-48EB-98D0-76E898F6BB5C", "xyzzy@example.com", bridges.AnswerAccepted)},
		// Entourage's X-ENTOURAGE_UUID property is read past.
		"outlook-mac-reply-accepted.eml":      {from: "admin@willow.vmw", methods: "REPLY", answers: ans("f1394aba7ca8b9474af204a4d88934b7c7aa2191", "admin@willow.vmw", bridges.AnswerAccepted)},
		"outlook-mac-reply-declined.eml":      {from: "tom@willow.vmw", methods: "REPLY", answers: ans("F3B82EDE-26A7-48AF-B90C-3F99A005964C", "tom@willow.vmw", bridges.AnswerDeclined)},
		"outlook-mac-reply-tentative.eml":     {from: "tom@willow.vmw", methods: "REPLY", answers: ans("F3B82EDE-26A7-48AF-B90C-3F99A005964C", "tom@willow.vmw", bridges.AnswerTentative)},
		"android-email-reply-accepted-fr.eml": {from: "david.phan@blue-mind.net", methods: "REPLY", answers: ans(android, "david.phan@blue-mind.net", bridges.AnswerAccepted)},
		"android-email-reply-declined-fr.eml": {from: "david.phan@blue-mind.net", methods: "REPLY", answers: ans(android, "david.phan@blue-mind.net", bridges.AnswerDeclined)},
		"bluemind-reply-accepted-fr.eml": {from: "evelyne.dutouron@ledepartement00.zz", methods: "REPLY",
			answers: ans("0839ab78569b58f97c8f56d61493ba30dced2013", "evelyne.dutouron@ledepartement00.zz", bridges.AnswerAccepted)},
		// No ORGANIZER; the attendee's domain differs from From's.
		"bluemind-mapi-reply-accepted-fr.eml": {from: "lucie.takvorian@bluemind.net", methods: "REPLY",
			answers: ans("a0bd6c5b-dc96-49a0-ae45-089843c839df", "lucie.takvorian@blue-mind.net", bridges.AnswerAccepted)},
		// Invitations and cancellations are not answers.
		"android-email-request.eml":            {from: "david.phan@blue-mind.net", methods: "REQUEST"},
		"bluemind-cancel-fr.eml":               {from: "david@bj.lan", methods: "CANCEL,CANCEL"},
		"exchange-cdo-request-sent-by-fr.eml":  {from: "Mathieu.Campbell2@urgences-sante.qc.ca", methods: "REQUEST"},
		"exchange2007-request-to-list.eml":     {from: "js.alet@e-deal.com", methods: "REQUEST"},
		"exchange2010-request-base64.eml":      {from: "marge@example.org", methods: "REQUEST"},
		"gmail-request-2021-meet.eml":          {from: "example@gmail.com", methods: "REQUEST,REQUEST"},
		"gmail-request-2023-de-attachment.eml": {from: "mygoogle@googlemail.com", methods: "REQUEST,REQUEST"},
		"gmail-request.eml":                    {from: "tcataldo@gmail.com", methods: "REQUEST", automatic: true},
		"lotus-notes-request.eml":              {from: "rkidai@mairie-saint-ouen.fr", methods: "REQUEST"},
		"office365-request-teams-fi.eml":       {from: "marge@example.com", methods: "REQUEST"},
		"office365-request-teams.eml":          {from: "tcataldo@bluedev.onmicrosoft.com", methods: "REQUEST"},
		"outlook-mac-cancel.eml":               {from: "admin@willow.vmw", methods: "CANCEL"},
		"outlook-mac-request.eml":              {from: "admin@willow.vmw", methods: "REQUEST"},
		"outlook-mac-update.eml":               {from: "admin@willow.vmw", methods: "REQUEST"},
		"outlook2010-request-single-part.eml":  {from: "sylvain.garcia@blue-mind.net", methods: "REQUEST"},
		// The RFC's own example is not valid quoted-printable
		// ("PARTSTAT=ACCEPTED" decodes =AC): reported, not crashed on.
		"rfc6047-request.eml": {from: "user1@example.com", problem: "PARTSTAT"},
		// Thunderbird's test mails lack the closing boundary: the parts
		// before it are kept and the cut is reported.
		"thunderbird-cancel-single-event.eml":  {from: "sender@example.com", methods: "CANCEL", problem: "unexpected EOF"},
		"thunderbird-single-event-request.eml": {from: "sender@example.com", methods: "REQUEST", problem: "unexpected EOF"},
	}
	files, err := filepath.Glob("testdata/imip/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d .eml fixtures, %d expectations: every fixture must be covered", len(files), len(tests))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := tests[name]
			if !ok {
				t.Fatal("no expectation for this fixture")
			}
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			in, err := Parse(fh, 0)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if in.From != w.from {
				t.Errorf("From = %q, want %q", in.From, w.from)
			}
			if in.Ignore != "" {
				t.Errorf("Ignore = %q, want a mail that may be an answer", in.Ignore)
			}
			if in.Automatic != w.automatic {
				t.Errorf("Automatic = %v, want %v", in.Automatic, w.automatic)
			}
			var methods []string
			for _, c := range in.Calendars {
				methods = append(methods, c.Method)
			}
			if got := strings.Join(methods, ","); got != w.methods {
				t.Errorf("calendar methods %q, want %q", got, w.methods)
			}
			r := in.Reply(ReplyAddress{Local: "rsvp", Domain: "example.org"})
			if !slices.Equal(r.Calendar, w.answers) {
				t.Errorf("answers %+v, want %+v", r.Calendar, w.answers)
			}
			if w.problem != "" && !strings.Contains(strings.Join(in.Problems, "\n"), w.problem) {
				t.Errorf("problems %q, want one mentioning %q", in.Problems, w.problem)
			}
			if w.problem == "" && len(in.Problems) > 0 {
				t.Errorf("unexpected problems %q", in.Problems)
			}
		})
	}
}

func TestReplyTokens(t *testing.T) {
	raw := "From: Jane <Jane@Example.net>\r\n" +
		"To: \"Libre Café\" <rsvp+r-AbC123@example.org>, other+r-nope@elsewhere.test\r\n" +
		"Delivered-To: rsvp+r-def456@Example.ORG\r\n" +
		"Cc: rsvp+join-libre-cafe@example.org\r\n" +
		"In-Reply-To: <inv-1@example.org>\r\n" +
		"References: <inv-0@example.org> <inv-1@example.org>\r\n" +
		"Message-ID: <reply-1@example.net>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
		"\r\n> Will you come?\r\nOui, avec plaisir !\r\n"
	in, err := Parse(strings.NewReader(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := ReplyAddress{Local: "rsvp", Domain: "example.org"}
	r := in.Reply(addr)
	if !slices.Equal(r.Tokens, []string{"AbC123", "def456"}) {
		t.Errorf("tokens %q", r.Tokens)
	}
	if !slices.Equal(r.References, []string{"inv-1@example.org", "inv-0@example.org"}) {
		t.Errorf("references %q", r.References)
	}
	if r.From != "Jane@Example.net" || r.MessageID != "reply-1@example.net" || r.Text != bridges.AnswerAccepted {
		t.Errorf("reply %+v", r)
	}
	if slug, ok := addr.JoinSlug("RSVP+join-Libre-Cafe@example.org"); !ok || slug != "libre-cafe" {
		t.Errorf("JoinSlug = %q %v", slug, ok)
	}
	if got := addr.WithToken("xyz"); got != "rsvp+r-xyz@example.org" {
		t.Errorf("WithToken = %q", got)
	}
	if _, err := ParseReplyAddress("rsvp+x@example.org"); err == nil {
		t.Error("a reply address with its own +tag was accepted")
	}
}

func TestTextAnswer(t *testing.T) {
	tests := []struct {
		text string
		want bridges.Answer
	}{
		{"Yes", bridges.AnswerAccepted},
		{"yes!\nsee you", bridges.AnswerAccepted},
		{"\n\n  OUI, bien sûr", bridges.AnswerAccepted},
		{"Ja, gerne.", bridges.AnswerAccepted},
		{"Sí, voy.", bridges.AnswerAccepted},
		{"Sì", bridges.AnswerAccepted},
		{"No thanks", bridges.AnswerDeclined},
		{"Non merci", bridges.AnswerDeclined},
		{"Nein.", bridges.AnswerDeclined},
		{"Maybe.", bridges.AnswerTentative},
		{"Peut-être", bridges.AnswerTentative},
		{"Vielleicht", bridges.AnswerTentative},
		{"Quizás", bridges.AnswerTentative},
		{"tal vez", bridges.AnswerTentative},
		{"Forse", bridges.AnswerTentative},
		// Quoted lines are skipped; the first own line decides.
		{"> yes\n>> no\nnon\n", bridges.AnswerDeclined},
		// A first line that is no answer is no answer, even if a later one is.
		{"I am not sure yet.\nyes", ""},
		{"Not today", ""},
		{"Nobody told me", ""},
		{"On Tue, Jane wrote:\n> yes", ""},
		{"", ""},
		{"> only quotes", ""},
	}
	for _, tt := range tests {
		if got := TextAnswer(tt.text); got != tt.want {
			t.Errorf("TextAnswer(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestParseLoops(t *testing.T) {
	base := "From: someone@example.net\r\nTo: rsvp+r-tok@example.org\r\nSubject: x\r\n"
	body := "Content-Type: text/plain\r\n\r\nyes\r\n"
	tests := []struct {
		name      string
		raw       string
		ignore    string
		automatic bool
	}{
		{"empty return path", "Return-Path: <>\r\n" + base + body, "bounce", false},
		{"dsn", base + "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nyes\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.0.0\r\n--b--\r\n", "bounce", false},
		{"mailer-daemon", "From: MAILER-DAEMON@example.net\r\nTo: rsvp+r-tok@example.org\r\n" + body, "bounce", false},
		{"vacation", "Auto-Submitted: auto-replied\r\n" + base + body, "auto-reply", false},
		{"x-autoreply", "X-Autoreply: yes\r\n" + base + body, "auto-reply", false},
		{"list", "List-Id: <friends.lists.example.net>\r\n" + base + body, "list", false},
		{"bulk", "Precedence: bulk\r\n" + base + body, "list", false},
		{"auto-generated", "Auto-Submitted: auto-generated\r\n" + base + body, "", true},
		{"person", "Auto-Submitted: no\r\n" + base + body, "", false},
	}
	addr := ReplyAddress{Local: "rsvp", Domain: "example.org"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Parse(strings.NewReader(tt.raw), 0)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(in.Ignore, tt.ignore) || (tt.ignore == "") != (in.Ignore == "") {
				t.Errorf("Ignore = %q, want %q", in.Ignore, tt.ignore)
			}
			if in.Automatic != tt.automatic {
				t.Errorf("Automatic = %v", in.Automatic)
			}
			// Software that says it is software does not get to answer by text.
			if r := in.Reply(addr); tt.automatic && r.Text != "" {
				t.Errorf("automatic mail gave text answer %q", r.Text)
			}
		})
	}
}

// countingReader counts what Parse pulled from its input.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless yields an endless base64-looking attachment body.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
		if i%77 == 76 {
			p[i] = '\n'
		}
	}
	return len(p), nil
}

func TestParseTooLarge(t *testing.T) {
	head := "From: a@example.net\r\nTo: rsvp+r-t@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nyes\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	// 30 MB of attachment, produced lazily so the test holds none of it.
	src := &countingReader{r: io.MultiReader(strings.NewReader(head), io.LimitReader(endless{}, 30<<20))}
	_, err := Parse(src, DefaultMaxSize)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if src.n > DefaultMaxSize+64<<10 {
		t.Errorf("read %d bytes of a 30 MB mail, want to stop near the %d limit", src.n, DefaultMaxSize)
	}
}

// TestParseHeaderCutByLimit: a limit that falls inside the header is a mail
// too large, not a malformed header (found by FuzzParse).
func TestParseHeaderCutByLimit(t *testing.T) {
	for _, limit := range []int64{5, 12, 15} {
		if _, err := Parse(strings.NewReader("Subject: x\r\nFrom: a@example.net\r\n\r\nyes\r\n"), limit); !errors.Is(err, ErrTooLarge) {
			t.Errorf("limit %d: err = %v, want ErrTooLarge", limit, err)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	tests := map[string]string{
		"no header end":   "From: a@example.net",
		"binary garbage":  "\x00\x01\x02\xff\xfe",
		"bad boundary":    "From: a@example.net\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n",
		"header too long": "X: " + strings.Repeat("a", 2<<20) + "\r\n\r\n",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			in, err := Parse(bytes.NewReader([]byte(raw)), 0)
			if err == nil && (len(in.Calendars) > 0 || in.Text != "") {
				t.Fatalf("malformed mail gave content: %+v", in)
			}
			if err != nil && !strings.Contains(err.Error(), "mail") {
				t.Errorf("error %q does not say it was reading the mail", err)
			}
		})
	}
}
