package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// lang is a language the pages speak. Strings live in tables, one per
// language, so a translation is one more table.
type lang struct {
	Code     string
	strings  map[string]string
	weekdays [7]string
	months   [12]string
}

var languages = map[string]*lang{
	"en": {
		Code:     "en",
		weekdays: [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		months:   [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		strings: map[string]string{
			"tagline":             "Federated events, in your calendar, your mailbox and on Mastodon.",
			"upcoming":            "Upcoming events",
			"none":                "No upcoming events yet.",
			"empty.followed":      "The followed sources have no upcoming events yet: new ones show up here as soon as their organisers publish them.",
			"empty.nothing":       "Nothing followed yet. Events show up here once an admin follows a Mobilizon group or a Gancio or PeerTube instance, with:",
			"empty.pending":       "A follow is waiting for its answer: events show up here once the source accepts it.",
			"sources":             "Followed sources",
			"cancelled":           "Cancelled",
			"tentative":           "To be confirmed",
			"online":              "Online",
			"by":                  "by",
			"subscribe":           "Subscribe",
			"subscribe.intro":     "Bring these events into your own calendar; it stays up to date as they change.",
			"webcal":              "Subscribe in your calendar app (webcal)",
			"ics":                 "iCalendar feed address, to copy",
			"caldav":              "CalDAV address",
			"howto.thunderbird":   "Thunderbird: New Calendar → On the Network → paste the CalDAV address.",
			"howto.apple":         "Apple Calendar: File → New Calendar Subscription → paste the feed address.",
			"howto.android":       "Android: in DAVx⁵, add an account with the CalDAV address (no password needed), or open the webcal link.",
			"howto.gnome":         "GNOME Calendar: Manage Calendars → Add Calendar → paste the feed address.",
			"bymail":              "Get every event by email",
			"bymail.intro":        "Write to this address: you will get an invitation for each event, which you can answer from your mail.",
			"events.of":           "Events",
			"when":                "When",
			"where":               "Where",
			"map":                 "Show on OpenStreetMap",
			"capacity":            "Places",
			"capacity.left":       "%d of %d places left",
			"capacity.full":       "This event is full",
			"capacity.none":       "No limit on places",
			"join.free":           "Anyone can take part: answering yes is enough.",
			"join.restricted":     "The organisers approve each participant: you will be told when they answer.",
			"join.invite":         "This event is by invitation of the organisers only.",
			"join.external":       "Registration happens on another site:",
			"join.watch":          "Watch it online:",
			"addcal":              "Add to your calendar",
			"download":            "Download (.ics)",
			"google":              "Google Calendar",
			"outlook":             "Outlook.com",
			"answer":              "Answer by email",
			"answer.intro":        "Get an invitation in your mailbox and answer it with your mail or calendar app (Accept or Decline). No account needed; your address stays here and is never shown to anyone.",
			"email":               "Your email address",
			"send":                "Send me the invitation",
			"original":            "See the event on its home server",
			"sent.title":          "Check your mailbox",
			"sent.body":           "We sent an invitation to %s. Answer it with Accept or Decline in your mail or calendar app, or reply “yes” or “no”. Until you answer, you will only get news of this event (changes, cancellation), and every mail has a link to stop them.",
			"back":                "Back to the event",
			"error.email":         "That does not look like an email address.",
			"error.slow":          "Too many requests: please try again in a while.",
			"error.mail":          "The invitation could not be sent right now; please try again later.",
			"notfound":            "Not found",
			"pub.gone":            "This event is no longer published",
			"pub.calendar":        "Calendar",
			"pub.participants":    "Participants",
			"pub.follow":          "Follow this calendar from the fediverse",
			"pub.follow.intro":    "From Mastodon, Mobilizon, Gancio or any ActivityPub server, search for %s and follow it: its events then reach you as they are published and changed.",
			"pub.join":            "Take part",
			"pub.join.free":       "From Mobilizon or another fediverse app that knows events, search for this page’s address and choose to participate; the organisers are told.",
			"pub.join.restricted": "From Mobilizon or another fediverse app that knows events, search for this page’s address and ask to participate: the organisers approve each participant.",
			"pub.join.external":   "Registration happens on the organisers’ site:",
			"pub.join.none":       "This event takes no registrations here.",
			"pub.address":         "This event’s address, to paste in your fediverse app",
			"source":              "Source",
			"description":         "Description",
			"rsvp.title":          "Your answer",
			"rsvp.question":       "Will you take part?",
			"rsvp.yes":            "Yes, I’ll come",
			"rsvp.maybe":          "Maybe",
			"rsvp.no":             "No",
			"rsvp.done":           "Your answer is recorded.",
			"rsvp.cancelled":      "This event was cancelled: it takes no more answers.",
			"rsvp.over":           "This event is over.",
			"rsvp.unsubscribed":   "This address asked for no more mail: answers are still recorded, but no mail will confirm them.",
			"rsvp.event":          "The event’s page",
			"rsvp.calendar":       "Your personal calendar, with the events you are invited to and your answers (keep this address to yourself):",
			"rsvp.account":        "Your calendar account (its server, user and password are in every mail passerelle sends you) lets you answer from Apple Calendar, Thunderbird or DAVx⁵.",
			"rsvp.pwreplace":      "Make a new calendar password (the old one stops working)",
			"rsvp.pwreplaced":     "Your calendar account has a new password: enter it in your calendar app; the old one no longer works.",
			"rsvp.calrotate":      "Make a new calendar address (the old one stops working)",
			"rsvp.calrotated":     "Your calendar has a new address: subscribe to it again in your calendar app; the old one no longer works.",
			"state.invited":       "You have not answered yet.",
			"state.joining":       "You said yes: your participation was sent to the organisers’ server, which has not confirmed it yet.",
			"state.unconfirmed":   "You said yes: your participation was delivered to the organisers’ server, which did not confirm it. You will get a mail if it does.",
			"state.pending":       "You said yes: the organisers approve each participant, and you will get a mail once they have decided.",
			"state.joined":        "You’re in: the organisers confirmed your participation.",
			"state.rejected":      "The organisers did not accept your participation.",
			"state.declined":      "You said no.",
			"state.left":          "You said no: the organisers were told that you no longer take part.",
			"state.tentative":     "You said maybe. Nothing was sent to the organisers; answer yes when you know.",
			"state.full":          "The event is full: your participation could not be sent.",
			"state.external":      "Registration happens on the organisers’ own site:",
			"unsub.title":         "Stop all mail",
			"unsub.intro":         "Press the button to receive no more mail at all from this passerelle at the address this link was sent to: no invitations, no updates, no confirmations.",
			"unsub.button":        "Stop all mail to my address",
			"unsub.done":          "Done: this address will get no more mail from us.",
			"unsub.already":       "This address already gets no mail from us.",
			"unsub.after":         "Your answers to events stand; to leave an event, answer no to it.",
			"badlink.title":       "This link is not valid",
			"badlink.body":        "The link is incomplete, or what it pointed to was erased. The links in our mails stay valid as long as the invitation does.",
		},
	},
	"fr": {
		Code:     "fr",
		weekdays: [7]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
		months:   [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
		strings: map[string]string{
			"tagline":             "Les événements fédérés, dans votre agenda, votre messagerie et sur Mastodon.",
			"upcoming":            "Événements à venir",
			"none":                "Aucun événement à venir pour l’instant.",
			"empty.followed":      "Les sources suivies n’ont pas encore d’événement à venir : les nouveaux apparaissent ici dès que leurs organisateurs les publient.",
			"empty.nothing":       "Rien n’est encore suivi. Les événements apparaissent ici dès qu’un administrateur suit un groupe Mobilizon ou une instance Gancio ou PeerTube, avec :",
			"empty.pending":       "Un abonnement attend sa réponse : les événements apparaîtront ici dès que la source l’aura accepté.",
			"sources":             "Sources suivies",
			"cancelled":           "Annulé",
			"tentative":           "À confirmer",
			"online":              "En ligne",
			"by":                  "par",
			"subscribe":           "S’abonner",
			"subscribe.intro":     "Ajoutez ces événements à votre agenda ; il reste à jour quand ils changent.",
			"webcal":              "S’abonner dans votre agenda (webcal)",
			"ics":                 "Adresse du flux iCalendar, à copier",
			"caldav":              "Adresse CalDAV",
			"howto.thunderbird":   "Thunderbird : Nouvel agenda → Sur le réseau → collez l’adresse CalDAV.",
			"howto.apple":         "Calendrier d’Apple : Fichier → Nouvel abonnement à un calendrier → collez l’adresse du flux.",
			"howto.android":       "Android : dans DAVx⁵, ajoutez un compte avec l’adresse CalDAV (sans mot de passe), ou ouvrez le lien webcal.",
			"howto.gnome":         "Agenda de GNOME : Gérer les agendas → Ajouter un agenda → collez l’adresse du flux.",
			"bymail":              "Recevoir chaque événement par courriel",
			"bymail.intro":        "Écrivez à cette adresse : vous recevrez une invitation pour chaque événement, à laquelle vous pourrez répondre depuis votre messagerie.",
			"events.of":           "Événements",
			"when":                "Quand",
			"where":               "Où",
			"map":                 "Voir sur OpenStreetMap",
			"capacity":            "Places",
			"capacity.left":       "%d places restantes sur %d",
			"capacity.full":       "Cet événement est complet",
			"capacity.none":       "Pas de limite de places",
			"join.free":           "Tout le monde peut participer : il suffit de répondre oui.",
			"join.restricted":     "Les organisateurs valident chaque participation : vous serez prévenu de leur réponse.",
			"join.invite":         "Cet événement est sur invitation des organisateurs uniquement.",
			"join.external":       "L’inscription se fait sur un autre site :",
			"join.watch":          "À regarder en ligne :",
			"addcal":              "Ajouter à votre agenda",
			"download":            "Télécharger (.ics)",
			"google":              "Google Agenda",
			"outlook":             "Outlook.com",
			"answer":              "Répondre par courriel",
			"answer.intro":        "Recevez une invitation dans votre messagerie et répondez-y depuis votre logiciel de courriel ou d’agenda (Accepter ou Refuser). Pas de compte à créer ; votre adresse reste ici et n’est montrée à personne.",
			"email":               "Votre adresse électronique",
			"send":                "M’envoyer l’invitation",
			"original":            "Voir l’événement sur son serveur d’origine",
			"sent.title":          "Consultez votre messagerie",
			"sent.body":           "Nous avons envoyé une invitation à %s. Répondez-y avec Accepter ou Refuser dans votre logiciel de courriel ou d’agenda, ou répondez « oui » ou « non ». Tant que vous n’avez pas répondu, vous ne recevrez que les nouvelles de cet événement (changements, annulation), et chaque courriel contient un lien pour les arrêter.",
			"back":                "Retour à l’événement",
			"error.email":         "Cela ne ressemble pas à une adresse électronique.",
			"error.slow":          "Trop de demandes : réessayez dans un moment.",
			"error.mail":          "L’invitation n’a pas pu être envoyée ; réessayez plus tard.",
			"notfound":            "Introuvable",
			"pub.gone":            "Cet événement n’est plus publié",
			"pub.calendar":        "Agenda",
			"pub.participants":    "Participants",
			"pub.follow":          "Suivre cet agenda depuis le fédivers",
			"pub.follow.intro":    "Depuis Mastodon, Mobilizon, Gancio ou tout serveur ActivityPub, cherchez %s et suivez-le : ses événements vous parviennent dès qu’ils sont publiés ou modifiés.",
			"pub.join":            "Participer",
			"pub.join.free":       "Depuis Mobilizon ou une autre application du fédivers qui connaît les événements, cherchez l’adresse de cette page et choisissez de participer ; les organisateurs en sont informés.",
			"pub.join.restricted": "Depuis Mobilizon ou une autre application du fédivers qui connaît les événements, cherchez l’adresse de cette page et demandez à participer : les organisateurs approuvent chaque participant.",
			"pub.join.external":   "Les inscriptions se font sur le site des organisateurs :",
			"pub.join.none":       "Cet événement ne prend pas d’inscriptions ici.",
			"pub.address":         "L’adresse de cet événement, à coller dans votre application du fédivers",
			"source":              "Source",
			"description":         "Description",
			"rsvp.title":          "Votre réponse",
			"rsvp.question":       "Participerez-vous ?",
			"rsvp.yes":            "Oui, je viens",
			"rsvp.maybe":          "Peut-être",
			"rsvp.no":             "Non",
			"rsvp.done":           "Votre réponse est enregistrée.",
			"rsvp.cancelled":      "Cet événement est annulé : il ne prend plus de réponses.",
			"rsvp.over":           "Cet événement est terminé.",
			"rsvp.unsubscribed":   "Cette adresse ne veut plus de courriels : les réponses sont enregistrées, mais aucun courriel ne les confirmera.",
			"rsvp.event":          "La page de l’événement",
			"rsvp.calendar":       "Votre agenda personnel, avec les événements auxquels vous êtes invité·e et vos réponses (gardez cette adresse pour vous) :",
			"rsvp.account":        "Votre compte d’agenda (son serveur, son utilisateur et son mot de passe sont dans chaque courriel de passerelle) vous permet de répondre depuis Calendrier d’Apple, Thunderbird ou DAVx⁵.",
			"rsvp.pwreplace":      "Créer un nouveau mot de passe d’agenda (l’ancien ne marchera plus)",
			"rsvp.pwreplaced":     "Votre compte d’agenda a un nouveau mot de passe : saisissez-le dans votre application d’agenda ; l’ancien ne marche plus.",
			"rsvp.calrotate":      "Créer une nouvelle adresse d’agenda (l’ancienne ne marchera plus)",
			"rsvp.calrotated":     "Votre agenda a une nouvelle adresse : abonnez-vous à nouveau dans votre application d’agenda ; l’ancienne ne marche plus.",
			"state.invited":       "Vous n’avez pas encore répondu.",
			"state.joining":       "Vous avez dit oui : votre participation a été envoyée au serveur des organisateurs, qui ne l’a pas encore confirmée.",
			"state.unconfirmed":   "Vous avez dit oui : votre participation a été remise au serveur des organisateurs, qui ne l’a pas confirmée. Vous recevrez un courriel s’il le fait.",
			"state.pending":       "Vous avez dit oui : les organisateurs valident chaque participation, et vous recevrez un courriel quand ils auront décidé.",
			"state.joined":        "C’est confirmé : les organisateurs ont accepté votre participation.",
			"state.rejected":      "Les organisateurs n’ont pas accepté votre participation.",
			"state.declined":      "Vous avez dit non.",
			"state.left":          "Vous avez dit non : les organisateurs savent que vous ne participez plus.",
			"state.tentative":     "Vous avez dit peut-être. Rien n’a été envoyé aux organisateurs ; répondez oui quand vous saurez.",
			"state.full":          "L’événement est complet : votre participation n’a pas pu être envoyée.",
			"state.external":      "L’inscription se fait sur le site des organisateurs :",
			"unsub.title":         "Ne plus recevoir de courriels",
			"unsub.intro":         "Appuyez sur le bouton pour ne plus recevoir aucun courriel de cette passerelle à l’adresse à laquelle ce lien a été envoyé : ni invitations, ni mises à jour, ni confirmations.",
			"unsub.button":        "Arrêter tous les courriels à mon adresse",
			"unsub.done":          "C’est fait : cette adresse ne recevra plus de courriels de notre part.",
			"unsub.already":       "Cette adresse ne reçoit déjà plus de courriels de notre part.",
			"unsub.after":         "Vos réponses aux événements restent valables ; pour quitter un événement, répondez-y non.",
			"badlink.title":       "Ce lien n’est pas valable",
			"badlink.body":        "Le lien est incomplet, ou ce vers quoi il pointait a été effacé. Les liens de nos courriels restent valables tant que l’invitation existe.",
		},
	},
}

// pickLang chooses the page language from Accept-Language (RFC 9110
// §12.5.4: the highest q among the languages we speak), English otherwise.
func pickLang(r *http.Request) *lang {
	best, bestQ := languages["en"], -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if l, ok := languages[primary]; ok && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// T is a translated string; with args it is a format.
func (l *lang) T(key string, args ...any) string {
	s, ok := l.strings[key]
	if !ok {
		s = languages["en"].strings[key]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Day is a date written out: "Wednesday 25 November 2026",
// "mercredi 25 novembre 2026".
func (l *lang) Day(t time.Time) string {
	return fmt.Sprintf("%s %d %s %d", l.weekdays[t.Weekday()], t.Day(), l.months[t.Month()-1], t.Year())
}

// Clock is a time of day: "19:00" in both languages (24-hour clocks are
// usual in French and unambiguous in English).
func (l *lang) Clock(t time.Time) string { return t.Format("15:04") }
