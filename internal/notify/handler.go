package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// handler serves POST /notify.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/notify", s)
	return mux
}

// HTTPServer returns the notify listener's own server, with limits and
// timeouts independent of the webhook listener's; serve it with
// ServeTLS(listener, "", ""). tlsConfig is typically certs.Holder.TLSConfig().
func (s *Server) HTTPServer(tlsConfig *tls.Config) *http.Server {
	srv := &http.Server{
		Handler:           s.handler(),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// ?wait=true answers within WaitLimit.
		WriteTimeout:   s.o.WaitLimit + 15*time.Second,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		// TLS handshake errors and the like: anyone can cause them, so
		// they are rate-limited like the refusals.
		ErrorLog: log.New(limitedLog{s}, "", 0),
	}
	// HTTP/1.1 only, like the webhook listener: without this ServeTLS
	// would offer h2, whose limits are set elsewhere.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	return srv
}

// answer is the JSON body of every /notify response. Accepted events get
// id, status (queued or suppressed; delivered or failed with ?wait=true)
// and reason; refused requests get error, and fields for a 400.
type answer struct {
	ID     string       `json:"id,omitempty"`
	Status string       `json:"status,omitempty"`
	Reason string       `json:"reason"`
	Error  string       `json:"error,omitempty"`
	Fields []fieldError `json:"fields,omitempty"`
}

// Event statuses.
const (
	statusQueued     = "queued"
	statusSuppressed = "suppressed"
	statusDelivered  = "delivered"
	statusFailed     = "failed"
)

// ServeHTTP answers one /notify request and counts it by status code.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, ans, retry := s.serve(w, r)
	if code == http.StatusTooManyRequests && s.o.RefusalDelay > 0 {
		// Held, not sent at once: a flood of refused requests then costs
		// a parked goroutine per connection, not the CPU of a replica.
		t := time.NewTimer(s.o.RefusalDelay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	s.m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if retry > 0 {
		h.Set("Retry-After", strconv.Itoa(retry))
	}
	if code == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	if code == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="orkestra-gateway"`)
	}
	if code == http.StatusRequestEntityTooLarge {
		h.Set("Connection", "close") // the rest of the body is not read
	}
	w.WriteHeader(code)
	var b []byte
	if ans.Error != "" {
		// Refusals carry no status or reason: nothing was accepted.
		b, _ = json.Marshal(struct {
			ID     string       `json:"id,omitempty"`
			Error  string       `json:"error"`
			Fields []fieldError `json:"fields,omitempty"`
		}{ans.ID, ans.Error, ans.Fields})
	} else {
		b, _ = json.Marshal(ans)
	}
	_, _ = w.Write(append(b, '\n'))
}

func refuse(code int, format string, args ...any) (int, answer, int) {
	return code, answer{Error: fmt.Sprintf(format, args...)}, 0
}

// serve handles one request: the status, the body and a Retry-After in
// seconds (0 for none). Until the caller is authenticated the only answers
// are 401, and 429 to an address that keeps failing: nothing about the
// request, the queues or the gateway's state is told to a stranger.
// Authentication holds no in-flight slot; an allowed caller then spends its
// own token bucket (429 beyond it) and one of the bounded slots (503).
func (s *Server) serve(w http.ResponseWriter, r *http.Request) (int, answer, int) {
	if s.pol == nil {
		return refuse(http.StatusNotFound, "notifications are disabled in this gateway's Katalog (no notification block, or notification.enabled: false)")
	}
	caller, rf := s.auth.check(r)
	if rf != nil {
		s.m.authFailures.WithLabelValues(rf.reason).Inc()
		level := slog.LevelDebug
		if rf.reason == authForbidden || rf.reason == authUnavailable || rf.reason == authAudience {
			level = slog.LevelWarn
		}
		if s.log.Enabled(r.Context(), level) && s.logs.allow() {
			logErr := rf.msg
			if rf.detail != "" {
				logErr += ": " + rf.detail
			}
			s.log.Log(r.Context(), level, "notify caller refused", "reason", rf.reason, "caller", caller, "remote", remoteIP(r), "err", logErr)
		}
		return rf.status, answer{Error: rf.msg}, rf.retry
	}
	if ok, wait := s.callers.allow(caller); !ok {
		s.m.limited.WithLabelValues(limitCaller).Inc()
		return http.StatusTooManyRequests, answer{Error: fmt.Sprintf("%s sends notifications faster than %g per second; retry later", caller, s.o.CallerRate)}, wait
	}
	select {
	case s.busy <- struct{}{}:
		defer func() { <-s.busy }()
	default:
		s.m.limited.WithLabelValues(limitInFlight).Inc()
		return http.StatusServiceUnavailable, answer{Error: "too many notifications in progress; retry"}, retryBusy
	}
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "method %s is not allowed: POST an event to /notify", r.Method)
	}
	if s.draining.Load() {
		return http.StatusServiceUnavailable, answer{Error: "the gateway is shutting down; retry, another replica will answer"}, retryDraining
	}

	if msg := jsonContentType(r.Header.Get("Content-Type")); msg != "" {
		return refuse(http.StatusUnsupportedMediaType, "%s", msg)
	}
	wait := false
	var err error
	if v := r.URL.Query().Get("wait"); v != "" {
		if wait, err = strconv.ParseBool(v); err != nil {
			return refuse(http.StatusBadRequest, "query parameter wait=%q is not true or false", clip(v, 32))
		}
	}
	if r.ContentLength > maxBodyBytes {
		return refuse(http.StatusRequestEntityTooLarge, "the body is %d bytes; the limit is %d", r.ContentLength, maxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return refuse(http.StatusRequestEntityTooLarge, "the body is larger than the limit of %d bytes", maxBodyBytes)
		}
		return refuse(http.StatusBadRequest, "reading the body: %v", err)
	}
	ev, err := decodeEvent(body, s.o.Now())
	if err != nil {
		var de *decodeError
		errors.As(err, &de)
		return http.StatusBadRequest, answer{Error: de.Msg, Fields: de.Fields}, 0
	}

	var unknown []string
	for _, t := range ev.Teams {
		if s.teams[t] == nil {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		known := make([]string, 0, len(s.teams))
		for t := range s.teams {
			known = append(known, t)
		}
		sort.Strings(known)
		return refuse(http.StatusNotFound, "unknown team(s) %s; this gateway's Katalog has %s",
			strings.Join(quoteAll(unknown), ", "), strings.Join(quoteAll(known), ", "))
	}

	generated := ev.ID == ""
	if generated {
		ev.ID = newID()
	}
	acc, full := s.accept(ev, generated, wait)
	if full != "" {
		return http.StatusServiceUnavailable, answer{ID: ev.ID, Error: full}, retryQueueFull
	}
	s.log.Debug("notification accepted", "id", ev.ID, "caller", caller, "teams", ev.Teams, "status", acc.status, "reason", acc.reason)
	if !wait || acc.outcome == nil {
		return http.StatusAccepted, answer{ID: ev.ID, Status: acc.status, Reason: acc.reason}, 0
	}
	select {
	case <-acc.outcome.done:
	case <-r.Context().Done():
		// The caller went away; the deliveries go on.
		return http.StatusServiceUnavailable, answer{ID: ev.ID, Error: "the request ended before the delivery outcome"}, 0
	}
	if fails := acc.outcome.failures(); len(fails) > 0 {
		return http.StatusBadGateway, answer{ID: ev.ID, Status: statusFailed, Reason: joinReasons(acc.reason, strings.Join(fails, "; "))}, 0
	}
	return http.StatusOK, answer{ID: ev.ID, Status: statusDelivered, Reason: acc.reason}, 0
}

// jsonContentType returns why a Content-Type is not JSON, "" when it is.
func jsonContentType(ct string) string {
	if ct == "" {
		return "Content-Type is missing: send application/json"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Sprintf("Content-Type %q is not supported: send application/json", clip(ct, 64))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("charset %q is not supported: send UTF-8", clip(cs, 32))
	}
	return ""
}

func quoteAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strconv.Quote(s)
	}
	return out
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// limitedLog writes the listener's own error lines at debug level, within
// the log rate limit.
type limitedLog struct{ s *Server }

func (l limitedLog) Write(p []byte) (int, error) {
	if l.s.log.Enabled(context.Background(), slog.LevelDebug) && l.s.logs.allow() {
		l.s.log.Debug("notify listener", "err", strings.TrimSpace(string(p)))
	}
	return len(p), nil
}
