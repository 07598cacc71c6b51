// Package notifytest is test support for the notification relay: a local
// stand-in for Slack (incoming webhooks and chat.postMessage) and a runner
// for mailpit, a real SMTP server with an HTTP API. Import it from tests
// only.
package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// SlackRequest is one request the fake received.
type SlackRequest struct {
	Kind    string // "webhook" or "chat.postMessage"
	Path    string
	Channel string // chat.postMessage only
	Text    string
	Auth    string // the Authorization header
	At      time.Time
	Status  int  // what the fake answered
	OK      bool // the request counts as delivered
}

// Answer is a scripted answer. The zero value is a success.
type Answer struct {
	Status     int    // HTTP status; 0 means 200
	RetryAfter string // Retry-After header
	Error      string // chat.postMessage: answer 200 {"ok":false,"error":Error}
	Hang       bool   // never answer (until the client gives up)
}

// Slack behaves like Slack's incoming webhooks (POST /hooks/...: 200 "ok")
// and Web API chat.postMessage (POST /api/chat.postMessage with a bot token:
// 200 {"ok":true}). Answers can be scripted (Push) or the whole service
// taken down (Down) to exercise retries.
type Slack struct {
	// Token is the bot token chat.postMessage requires (Bearer).
	Token string

	srv *httptest.Server

	mu     sync.Mutex
	reqs   []SlackRequest
	script []Answer
	down   *Answer
	hang   chan struct{}
}

// NewSlack starts the fake on 127.0.0.1; it is closed at test cleanup.
func NewSlack(t testing.TB, token string) *Slack {
	s := &Slack{Token: token, hang: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.hang)
		s.srv.Close()
	})
	return s
}

// WebhookURL is an incoming webhook URL; name tells hooks apart.
func (s *Slack) WebhookURL(name string) string { return s.srv.URL + "/hooks/" + name }

// APIURL is the Web API base, for notification.slack.apiURL.
func (s *Slack) APIURL() string { return s.srv.URL + "/api" }

// Push queues answers for the next requests, in order.
func (s *Slack) Push(a ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, a...)
}

// Down makes every request get a (a 503, say) until Up.
func (s *Slack) Down(a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = &a
}

// Up ends Down.
func (s *Slack) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = nil
}

// Requests returns every request received so far.
func (s *Slack) Requests() []SlackRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SlackRequest(nil), s.reqs...)
}

// Delivered returns the requests that were answered with success.
func (s *Slack) Delivered() []SlackRequest {
	var out []SlackRequest
	for _, r := range s.Requests() {
		if r.OK {
			out = append(out, r)
		}
	}
	return out
}

// WaitDelivered waits until n requests were delivered and returns them.
func (s *Slack) WaitDelivered(t testing.TB, n int, timeout time.Duration) []SlackRequest {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := s.Delivered()
		if len(d) >= n {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("slack fake: %d of %d messages delivered after %s; requests: %+v", len(d), n, timeout, s.Requests())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Slack) serve(w http.ResponseWriter, r *http.Request) {
	req := SlackRequest{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), At: time.Now()}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var payload struct{ Channel, Text string }
	switch {
	case r.Method != http.MethodPost:
		req.Status = http.StatusMethodNotAllowed
	case err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &payload) != nil:
		req.Status = http.StatusBadRequest
	case strings.HasPrefix(r.URL.Path, "/hooks/"):
		req.Kind = "webhook"
	case r.URL.Path == "/api/chat.postMessage":
		req.Kind = "chat.postMessage"
	default:
		req.Status = http.StatusNotFound
	}
	req.Channel, req.Text = payload.Channel, payload.Text

	s.mu.Lock()
	var a Answer
	switch {
	case req.Status != 0:
	case s.down != nil:
		a = *s.down
	case len(s.script) > 0:
		a = s.script[0]
		s.script = s.script[1:]
	}
	if req.Status == 0 {
		req.Status = a.Status
		if req.Status == 0 {
			req.Status = http.StatusOK
		}
	}
	if a.Hang {
		req.Status = 0
	}
	idx := len(s.reqs)
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()

	if a.Hang {
		select {
		case <-r.Context().Done():
		case <-s.hang:
		}
		return
	}
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	ok := false
	switch {
	case req.Status != http.StatusOK:
		w.WriteHeader(req.Status)
		fmt.Fprint(w, strings.ToLower(strings.ReplaceAll(http.StatusText(req.Status), " ", "_")))
	case req.Kind == "webhook":
		if payload.Text == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, "no_text")
			break
		}
		fmt.Fprint(w, "ok")
		ok = true
	default: // chat.postMessage: errors are 200 {"ok":false}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		errCode := a.Error
		switch {
		case errCode != "":
		case s.Token != "" && req.Auth != "Bearer "+s.Token:
			errCode = "invalid_auth"
		case payload.Channel == "":
			errCode = "channel_not_found"
		case payload.Text == "":
			errCode = "no_text"
		}
		if errCode != "" {
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, errCode)
			break
		}
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"%d.000100"}`, payload.Channel, time.Now().Unix())
		ok = true
	}
	s.mu.Lock()
	s.reqs[idx].OK = ok
	s.mu.Unlock()
}
