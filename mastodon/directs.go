package mastodon

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomasto "github.com/mattn/go-mastodon"
	"github.com/riverqueue/river"

	"codeberg.org/passerelle/passerelle/bridges"
	"codeberg.org/passerelle/passerelle/store"
)

// DirectArgs is the job that tells a fediverse participant, in one direct
// reply, what their answer did. Key is minted when the notice is decided:
// one key, one direct reply, however often the job runs.
type DirectArgs struct {
	InvitationID int64          `json:"invitation_id"`
	Notice       bridges.Notice `json:"notice"`
	Key          string         `json:"key"`
}

// Kind names the job for River.
func (DirectArgs) Kind() string { return "mastodon_direct" }

// Directs is the RSVP flow's fediverse channel (bridges.RSVP.Fediverse):
// it enqueues a direct reply for the notices a fediverse participant is
// told. Invitations, updates and "maybe" are not: they did not invite
// themselves, the event's thread shows its changes, and a "maybe" changes
// nothing on the event's side.
type Directs struct{}

var _ bridges.Mailer = Directs{}

// directNotices are the notices told in a direct reply.
var directNotices = map[bridges.Notice]bool{
	bridges.NoticeJoined: true, bridges.NoticePending: true, bridges.NoticeUnconfirmed: true,
	bridges.NoticeFull: true, bridges.NoticeExternal: true, bridges.NoticeRejected: true,
	bridges.NoticeLeft: true, bridges.NoticeCancel: true,
}

// Notify enqueues the direct reply in the transaction that decided it.
func (Directs) Notify(ctx context.Context, tx bridges.Tx, inv *bridges.Invitation, n bridges.Notice) error {
	if !directNotices[n] {
		return nil
	}
	return tx.Enqueue(ctx, DirectArgs{InvitationID: inv.ID, Notice: n, Key: bridges.NewToken()}, bridges.JobOpts{MaxAttempts: MaxAttempts})
}

// Replier posts the direct replies.
type Replier struct {
	river.WorkerDefaults[DirectArgs]
	DB   *store.DB
	HTTP *http.Client
	// PublicURL is passerelle's public_url: the event's page and its
	// .ics are linked from every reply.
	PublicURL string
	Log       *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (w *Replier) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Replier) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Timeout bounds one attempt (a reconcile and a post).
func (w *Replier) Timeout(*river.Job[DirectArgs]) time.Duration { return jobTimeout }

// Work posts the direct reply exactly once: the attempt is recorded
// before the POST (with an Idempotency-Key), and an attempt whose outcome
// is unknown is first looked for among the account's recent statuses.
func (w *Replier) Work(ctx context.Context, job *river.Job[DirectArgs]) error {
	args := job.Args
	d, err := w.DB.MastodonDirect(ctx, args.Key)
	switch {
	case errors.Is(err, bridges.ErrNotFound):
		d = &store.MastodonDirect{Key: args.Key, InvitationID: args.InvitationID, Notice: string(args.Notice)}
	case err != nil:
		return err
	case d.State == PostPosted || d.State == PostFailed:
		return nil
	}
	ans, err := w.DB.MastodonAnswerer(ctx, args.InvitationID)
	if errors.Is(err, bridges.ErrNotFound) {
		w.log().Info("mastodon: direct reply to an erased participant dropped", "invitation", args.InvitationID, "notice", args.Notice)
		return nil
	}
	if err != nil {
		return err
	}
	acct, err := w.DB.MastodonAccount(ctx, ans.AccountID)
	if errors.Is(err, bridges.ErrNotFound) {
		return nil // disconnected since: nobody to answer from
	}
	if err != nil {
		return err
	}
	if acct.State != AccountActive {
		// Retried with backoff: once the account is connected again, the
		// person still hears back.
		return fmt.Errorf("account %s needs reconnection before it can answer", acct.Acct)
	}
	var ev *bridges.StoredEvent
	err = w.DB.Tx(ctx, func(ctx context.Context, tx *store.Tx) error {
		inv, err := tx.InvitationByID(ctx, args.InvitationID)
		if err != nil {
			return err
		}
		ev, err = tx.EventByID(ctx, inv.EventID)
		return err
	})
	if errors.Is(err, bridges.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	sent, err := w.DB.MastodonDirectsOf(ctx, args.InvitationID)
	if err != nil {
		return err
	}
	approved := false
	for _, s := range sent {
		// After "waiting for approval", "you're in" says who decided.
		approved = approved || (args.Notice == bridges.NoticeJoined && s.Notice == string(bridges.NoticePending) && s.State == PostPosted)
		// An event cancelled, then deleted, is told cancelled once.
		if args.Notice == bridges.NoticeCancel && s.Key != args.Key && s.Notice == string(bridges.NoticeCancel) && s.State == PostPosted {
			return nil
		}
	}
	page := strings.TrimRight(w.PublicURL, "/") + "/events/" + strconv.FormatInt(ev.ID, 10)
	text := DirectText(args.Notice, approved, &ev.Event, ans.Acct, page)
	c := NewClient(w.HTTP, acct.Instance, acct.Token)
	if d.State == PostPending {
		found, err := w.reconcile(ctx, c, acct, ans, d, page)
		if err != nil {
			return w.jobError(ctx, acct, d, err)
		}
		if found != "" {
			d.State, d.StatusID, d.Error = PostPosted, found, ""
			w.log().Info("mastodon: adopted a direct reply posted before a stop", "invitation", args.InvitationID, "notice", args.Notice, "status", found)
			return w.DB.SaveMastodonDirect(ctx, d)
		}
	}
	d.State, d.AttemptedAt = PostPending, w.now()
	if err := w.DB.SaveMastodonDirect(ctx, d); err != nil {
		return err
	}
	toot := &gomasto.Toot{Status: text, Visibility: "direct", InReplyToID: gomasto.ID(ans.StatusID), Language: langTag(ev.Language)}
	st, err := c.Post(ctx, toot, "passerelle-dm-"+args.Key)
	if err != nil && Classify(err) == NotFound {
		// Their reply is gone (deleted): nothing is undone, and they are
		// still told, outside that thread.
		toot.InReplyToID = ""
		st, err = c.Post(ctx, toot, "passerelle-dm-"+args.Key+"-top")
	}
	if err != nil {
		return w.jobError(ctx, acct, d, err)
	}
	d.State, d.StatusID = PostPosted, string(st.ID)
	w.log().Info("mastodon: direct reply posted", "account", acct.Acct, "invitation", args.InvitationID, "notice", args.Notice, "status", st.ID)
	return w.DB.SaveMastodonDirect(ctx, d)
}

// reconcile looks for the direct reply of an attempt whose answer was
// lost: a direct status created since, in reply to the person's answer,
// showing the event's page, that no other notice took.
func (w *Replier) reconcile(ctx context.Context, c *Client, acct *Account, ans *store.MastodonAnswerer, d *store.MastodonDirect, page string) (string, error) {
	recent, err := c.Recent(ctx, acct.RemoteID, reconcileWindow)
	if err != nil {
		return "", err
	}
	others, err := w.DB.MastodonDirectsOf(ctx, ans.InvitationID)
	if err != nil {
		return "", err
	}
	taken := map[string]bool{}
	for _, o := range others {
		if o.Key != d.Key && o.StatusID != "" {
			taken[o.StatusID] = true
		}
	}
	found := ""
	for _, st := range recent {
		reply := ""
		if st.InReplyToID != nil {
			reply = fmt.Sprint(st.InReplyToID)
		}
		if st.Visibility != "direct" || taken[string(st.ID)] || st.CreatedAt.Before(d.AttemptedAt.Add(-clockSkew)) {
			continue
		}
		if (reply == ans.StatusID || reply == "") && strings.Contains(html.UnescapeString(st.Content), page) {
			found = string(st.ID) // newest first: keep the oldest match
		}
	}
	return found, nil
}

// jobError records a failed attempt and tells River what to do: wait for
// a rate limit, stop using a refused token, give up on refused content,
// or retry with backoff.
func (w *Replier) jobError(ctx context.Context, acct *Account, d *store.MastodonDirect, err error) error {
	switch Classify(err) {
	case RateLimited:
		var rl *RateLimitedError
		errors.As(err, &rl)
		return river.JobSnooze(max(rl.Reset.Sub(w.now()), time.Second))
	case Unauthorized:
		w.log().Error("mastodon: account refused our token; reconnect it with `passerelle mastodon connect`", "account", acct.Acct, "err", err)
		if serr := w.DB.SetMastodonAccountState(ctx, acct.ID, AccountReconnect, err.Error()); serr != nil {
			return serr
		}
		return err
	case Rejected:
		d.State, d.Error = PostFailed, err.Error()
		if serr := w.DB.SaveMastodonDirect(ctx, d); serr != nil {
			return serr
		}
		w.log().Error("mastodon: direct reply refused by the server", "account", acct.Acct, "invitation", d.InvitationID, "err", err)
		return river.JobCancel(err)
	}
	return err
}

// directLabels are the direct replies' sentences; %s is the event's title.
var directLabels = map[string]map[string]string{
	"en": {
		"joined": "You're in: %s.", "approved": "The organisers approved your participation: you're in for %s.",
		"pending":     "Thanks! Your participation in %s is waiting for the organisers' approval.",
		"unconfirmed": "Your participation in %s was sent to the organisers; they have not confirmed it yet.",
		"full":        "Sorry, %s is full.", "external": "%s takes participations on its own page:",
		"rejected": "The organisers declined your participation in %s.", "left": "Noted: you're no longer going to %s.",
		"cancel": "%s is cancelled.", "calendar": "Add it to your calendar:",
	},
	"fr": {
		"joined": "C'est noté, vous participez : %s.", "approved": "Les organisateurs ont accepté votre participation : vous participez à %s.",
		"pending":     "Merci ! Votre participation à %s attend l'accord des organisateurs.",
		"unconfirmed": "Votre participation à %s a été envoyée aux organisateurs ; ils ne l'ont pas encore confirmée.",
		"full":        "Désolé, %s est complet.", "external": "%s prend les inscriptions sur sa propre page :",
		"rejected": "Les organisateurs ont refusé votre participation à %s.", "left": "C'est noté : vous ne venez plus à %s.",
		"cancel": "%s est annulé.", "calendar": "Ajoutez-le à votre agenda :",
	},
	"de": {
		"joined": "Du bist dabei: %s.", "approved": "Die Organisator·innen haben deine Teilnahme bestätigt: du bist dabei bei %s.",
		"pending":     "Danke! Deine Teilnahme an %s wartet auf die Bestätigung der Organisator·innen.",
		"unconfirmed": "Deine Teilnahme an %s wurde den Organisator·innen geschickt; sie haben sie noch nicht bestätigt.",
		"full":        "Leider ist %s ausgebucht.", "external": "%s nimmt Anmeldungen auf der eigenen Seite an:",
		"rejected": "Die Organisator·innen haben deine Teilnahme an %s abgelehnt.", "left": "Notiert: du kommst nicht mehr zu %s.",
		"cancel": "%s ist abgesagt.", "calendar": "In deinen Kalender:",
	},
	"es": {
		"joined": "¡Apuntado! Participas en %s.", "approved": "La organización aceptó tu participación: participas en %s.",
		"pending":     "¡Gracias! Tu participación en %s espera la aprobación de la organización.",
		"unconfirmed": "Tu participación en %s se envió a la organización; aún no la ha confirmado.",
		"full":        "Lo sentimos, %s está completo.", "external": "%s recoge las inscripciones en su propia página:",
		"rejected": "La organización rechazó tu participación en %s.", "left": "Anotado: ya no vas a %s.",
		"cancel": "%s se ha cancelado.", "calendar": "Añádelo a tu calendario:",
	},
	"it": {
		"joined": "Ci sei: %s.", "approved": "Gli organizzatori hanno approvato la tua partecipazione: ci sei per %s.",
		"pending":     "Grazie! La tua partecipazione a %s attende l'approvazione degli organizzatori.",
		"unconfirmed": "La tua partecipazione a %s è stata inviata agli organizzatori; non l'hanno ancora confermata.",
		"full":        "Spiacenti, %s è al completo.", "external": "%s raccoglie le iscrizioni sulla propria pagina:",
		"rejected": "Gli organizzatori hanno rifiutato la tua partecipazione a %s.", "left": "Annotato: non partecipi più a %s.",
		"cancel": "%s è annullato.", "calendar": "Aggiungilo al tuo calendario:",
	},
}

// maxDirectTitle bounds the title in a direct reply, so the reply stays
// within any instance's limit (500 characters by default).
const maxDirectTitle = 200

// DirectText is the direct reply for a notice: the person's handle (the
// only mention), what happened in the event's language, the event's page
// on passerelle and its .ics. The title is neutralised: a handle in it
// must not mention, and so notify, anyone else.
func DirectText(n bridges.Notice, approved bool, ev *bridges.Event, acct, page string) string {
	lang, _, _ := strings.Cut(strings.ToLower(ev.Language), "-")
	lang, _, _ = strings.Cut(lang, "_")
	l, ok := directLabels[lang]
	if !ok {
		l = directLabels["en"]
	}
	title := strings.Join(strings.Fields(ev.Title), " ")
	if utf8.RuneCountInString(title) > maxDirectTitle {
		title = string([]rune(title)[:maxDirectTitle-1]) + "…"
	}
	title = Neutralise(title, nil)
	key := string(n)
	if approved {
		key = "approved"
	}
	line := fmt.Sprintf(l[key], title)
	var b strings.Builder
	b.WriteString("@" + strings.TrimPrefix(acct, "@") + " " + line)
	if n == bridges.NoticeExternal && ev.URL != "" {
		b.WriteString(" " + ev.URL)
	}
	b.WriteString("\n\n" + page)
	switch n {
	case bridges.NoticeJoined, bridges.NoticePending, bridges.NoticeUnconfirmed, bridges.NoticeExternal:
		// Only to someone who is (or may be) going.
		b.WriteString("\n" + l["calendar"] + " " + page + ".ics")
	}
	return b.String()
}
