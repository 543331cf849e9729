package mastodon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	gomasto "github.com/mattn/go-mastodon"
)

// mentionsPage is how many notifications one request asks for (the API's
// maximum).
const mentionsPage = 40

// maxMentionsBody bounds one page of notifications: 40 statuses of a
// server that allows long ones, with their accounts.
const maxMentionsBody = 8 << 20

// Notification is a mention as GET /api/v1/notifications gives it: only
// what reading an answer needs, the same on Mastodon, GoToSocial and
// Akkoma (go-mastodon's types lack the account's uri).
type Notification struct {
	ID      string        `json:"id"`
	Type    string        `json:"type"`
	Account RemoteAccount `json:"account"`
	Status  *Mention      `json:"status"`
}

// RemoteAccount is the author of a mention.
type RemoteAccount struct {
	ID string `json:"id"`
	// Acct is user@host, or user for an account of the same server.
	Acct string `json:"acct"`
	// URI is the ActivityPub id (Mastodon 4.2+, GoToSocial); URL the
	// profile page, which older servers give alone.
	URI string `json:"uri"`
	URL string `json:"url"`
}

// Mention is the status of a mention.
type Mention struct {
	ID          string        `json:"id"`
	InReplyToID string        `json:"in_reply_to_id"`
	Content     string        `json:"content"`
	Visibility  string        `json:"visibility"`
	EditedAt    string        `json:"edited_at"`
	Language    string        `json:"language"`
	Account     RemoteAccount `json:"account"`
}

// Mentions reads a page of the account's mention notifications, sorted
// oldest first: those right after minID (all servers page forward with
// min_id), or without it the newest ones older than maxID (or the newest
// of all without either). A refused answer is a *gomasto.APIError, as
// Classify expects.
func (c *Client) Mentions(ctx context.Context, minID, maxID string) ([]Notification, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	q := url.Values{"types[]": {"mention"}, "limit": {strconv.Itoa(mentionsPage)}}
	if minID != "" {
		q.Set("min_id", minID)
	} else if maxID != "" {
		q.Set("max_id", maxID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/api/v1/notifications?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.api.Config.AccessToken)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read mentions: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("read mentions: %w", &gomasto.APIError{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(msg))})
	}
	var page []Notification
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMentionsBody)).Decode(&page); err != nil {
		return nil, fmt.Errorf("read mentions: %w", err)
	}
	sortIDs(page)
	return page, nil
}

// compareIDs orders notification ids. Servers' ids are numbers
// (Mastodon's snowflakes) or ULIDs (GoToSocial): both order by length,
// then as text.
func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func sortIDs(page []Notification) {
	slices.SortFunc(page, func(a, b Notification) int { return compareIDs(a.ID, b.ID) })
}
