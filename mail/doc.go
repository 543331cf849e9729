// Package mail is passerelle's email side: iMIP invitations out (RFC 6047
// over SMTP), answers in (IMAP IDLE or `passerelle mail receive`), read
// leniently because every calendar client writes its replies differently,
// and turned into bridges.Reply for the RSVP flow.
package mail
