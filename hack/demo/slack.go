package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// slackReceiver answers like a Slack incoming webhook (POST /hooks/NAME
// with {"text": ...}: 200 "ok") and keeps what it received. It stands in
// for Slack, which the demo cannot reach.
type slackReceiver struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	messages []slackMessage
	arrived  chan struct{} // closed and replaced on every message
	onPost   func(slackMessage)
}

type slackMessage struct {
	Hook string // the NAME of /hooks/NAME
	Text string
}

// startSlack listens on a loopback port; onPost, when set, is called for
// every message (the interactive demo prints them).
func startSlack(onPost func(slackMessage)) (*slackReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &slackReceiver{url: "http://" + l.Addr().String(), arrived: make(chan struct{}), onPost: onPost}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// WebhookURL is the incoming webhook URL for name.
func (s *slackReceiver) WebhookURL(name string) string { return s.url + "/hooks/" + name }

func (s *slackReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hook, ok := strings.CutPrefix(r.URL.Path, "/hooks/")
	if !ok || hook == "" {
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "invalid_method", http.StatusMethodNotAllowed)
		return
	}
	var p struct{ Text string }
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &p) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if p.Text == "" {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	m := slackMessage{Hook: hook, Text: p.Text}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	if s.onPost != nil {
		s.onPost(m)
	}
	fmt.Fprint(w, "ok")
}

// wait returns the first message, waiting up to timeout for it.
func (s *slackReceiver) wait(timeout time.Duration) (slackMessage, error) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		if len(s.messages) > 0 {
			m := s.messages[0]
			s.mu.Unlock()
			return m, nil
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline:
			return slackMessage{}, fmt.Errorf("no Slack message after %s", timeout)
		}
	}
}

func (s *slackReceiver) close() { _ = s.srv.Close() }
