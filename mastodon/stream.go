package mastodon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	gomasto "github.com/mattn/go-mastodon"
)

// streamIdle is how long a stream may stay silent: Mastodon's streaming
// server sends a heartbeat comment every few seconds, so a silent one is
// a connection that died without closing.
const streamIdle = 90 * time.Second

// ErrNoStreaming is returned when the server offers no event stream of
// notifications (GoToSocial streams over WebSocket only; a streaming
// server on another host refuses the token the redirect drops).
var ErrNoStreaming = errors.New("the server offers no notification stream")

// StreamMentions follows the account's notification stream (Mastodon's
// server-sent events, GET /api/v1/streaming/user/notification) and calls
// wake for each notification, until ctx ends or the stream breaks. The
// stream only wakes the reader, which reads from its cursor as when
// polling: what a notification says is not trusted on its own, and one
// missed while disconnected is read at the next poll.
func (c *Client) StreamMentions(ctx context.Context, wake func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/api/v1/streaming/user/notification", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.api.Config.AccessToken)
	req.Header.Set("Accept", "text/event-stream")
	// The stream lasts: the calls' timeout would cut it, the idle timer
	// below ends a dead one.
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("open the notification stream: %w", err)
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode == http.StatusOK && mt == "text/event-stream":
	case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusMethodNotAllowed,
		resp.StatusCode == http.StatusBadRequest, resp.StatusCode == http.StatusNotImplemented:
		return fmt.Errorf("%w (HTTP %d, %s)", ErrNoStreaming, resp.StatusCode, mt)
	default:
		return fmt.Errorf("open the notification stream: %w", &gomasto.APIError{StatusCode: resp.StatusCode})
	}
	idle := time.AfterFunc(streamIdle, cancel)
	defer idle.Stop()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long data line (a status): only event names matter.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			line = nil
		}
		if err != nil {
			if ctx.Err() != nil && !idle.Stop() {
				return errors.New("the notification stream went silent")
			}
			return fmt.Errorf("read the notification stream: %w", err)
		}
		idle.Reset(streamIdle)
		if ev, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "event:"); ok && strings.TrimSpace(ev) == "notification" {
			wake()
		}
	}
}
