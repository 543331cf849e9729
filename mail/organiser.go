package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/riverqueue/river"
)

// OrganiserJob tells the organiser of a published calendar (its
// --contact address) that a fediverse account joined or left one of its
// events (issue 19). The job carries all the mail needs: the event may
// change or vanish before it runs, and what was true when the participant
// joined is what the organiser is told.
type OrganiserJob struct {
	To          string `json:"to"`
	Calendar    string `json:"calendar"`
	Event       string `json:"event"`
	EventURL    string `json:"event_url"`
	Start       string `json:"start"`
	Participant string `json:"participant"`
	Joined      bool   `json:"joined"`
	// Pending is a Join held for the organiser's answer (join mode
	// restricted), or the withdrawal of one; EventKey names the event in
	// the command that answers it.
	Pending  bool   `json:"pending,omitempty"`
	EventKey string `json:"event_key,omitempty"`
	// Count is the event's accepted participants after the change.
	Count int `json:"count"`
}

// Kind names the job.
func (OrganiserJob) Kind() string { return "mail_organiser" }

// OrganiserSender sends OrganiserJobs.
type OrganiserSender struct {
	river.WorkerDefaults[OrganiserJob]
	SMTP Submitter
	// From is mail.from; Envelope the envelope sender (the reply address,
	// whose mailbox recognises bounces).
	From, Envelope string
	Log            *slog.Logger
	Now            func() time.Time
}

// Compose writes the notice: plain text, nothing to answer.
func (s *OrganiserSender) Compose(j OrganiserJob, msgID string, date time.Time) []byte {
	verb, subject := "joined", "New participant: "
	switch {
	case j.Joined && j.Pending:
		verb, subject = "asks to join", "Participation to approve: "
	case !j.Joined && j.Pending:
		verb, subject = "withdrew their request to join", "Request withdrawn: "
	case !j.Joined:
		verb, subject = "left", "Participant left: "
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", s.From)
	header("To", j.To)
	header("Subject", mime.QEncoding.Encode("utf-8", subject+j.Event))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", "<"+msgID+">")
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := fmt.Sprintf("%s %s %q (%s), published from your calendar as @%s.\n\nParticipants now: %d.\nEvent: %s\n\n"+
		"passerelle sends this because this address is the contact of the published calendar %q.\n",
		j.Participant, verb, j.Event, j.Start, j.Calendar, j.Count, j.EventURL, j.Calendar)
	if j.Joined && j.Pending {
		body += fmt.Sprintf("\nThe calendar approves each participant. To answer, on the passerelle server:\n"+
			"  passerelle publish approve %s %s --event %s\n  passerelle publish reject %s %s --event %s\n",
			j.Calendar, j.Participant, j.EventKey, j.Calendar, j.Participant, j.EventKey)
	}
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes()
}

// Work sends the notice; a relay's permanent refusal ends the job.
func (s *OrganiserSender) Work(ctx context.Context, job *river.Job[OrganiserJob]) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	domain := "passerelle"
	if _, d, ok := strings.Cut(s.Envelope, "@"); ok {
		domain = d
	}
	// Derived from the job: a retry carries the same id.
	msg := s.Compose(job.Args, fmt.Sprintf("passerelle.organiser.%d@%s", job.ID, domain), now())
	err := s.SMTP.Send(ctx, s.Envelope, []string{job.Args.To}, bytes.NewReader(msg))
	var perm *PermanentError
	if errors.As(err, &perm) {
		s.Log.Warn("organiser notice refused for good", "calendar", job.Args.Calendar, "err", perm)
		return river.JobCancel(perm)
	}
	if err == nil {
		s.Log.Info("organiser told of a participation", "calendar", job.Args.Calendar, "event", job.Args.Event, "joined", job.Args.Joined)
	}
	return err
}
