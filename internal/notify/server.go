package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Defaults of Options.
const (
	DefaultQueueSize      = 256
	DefaultWorkers        = 4
	DefaultMaxAge         = 10 * time.Minute
	DefaultWaitLimit      = 30 * time.Second
	DefaultAttemptTimeout = 15 * time.Second
	DefaultMaxInFlight    = 64
	defaultInterval       = 15 * time.Minute
)

// Retry-After values, in seconds.
const (
	retryDraining   = 1 // another replica behind the Service answers
	retryBusy       = 1
	retryQueueFull  = 5
	retryAuthFailed = 5
)

// Options configure a Server. Policy and Reviewer are required when
// notifications are enabled; every other field has a default.
type Options struct {
	// Policy is the compiled notification block; nil means notifications
	// are off and every request is answered 404.
	Policy *policy.Notification
	// Reviewer checks bearer tokens (NewTokenReviewer in the gateway).
	Reviewer TokenReviewer
	// Logger receives final delivery failures (with the event id), retries,
	// refused callers and template errors; never a secret value.
	Logger *slog.Logger
	// Registerer receives the notify metrics; nil registers none.
	Registerer prometheus.Registerer
	// Getenv reads {env: NAME} secrets; default os.Getenv.
	Getenv func(string) string
	// HTTPClient posts to Slack; default a client with proxy support from
	// the environment and TLS 1.2 minimum.
	HTTPClient *http.Client
	// QueueSize bounds each destination's queue (jobs waiting, retrying or
	// being attempted); an event that does not fit is answered 503.
	QueueSize int
	// Workers per destination.
	Workers int
	// MaxAge is how long an event may wait for delivery, retries included;
	// after it the delivery fails.
	MaxAge time.Duration
	// WaitLimit bounds ?wait=true: the event's deadline becomes
	// min(MaxAge, WaitLimit), so a 502 means it will not be delivered.
	WaitLimit time.Duration
	// AttemptTimeout bounds one delivery attempt.
	AttemptTimeout time.Duration
	// Backoff is the retry schedule; default 1s doubling to 1m.
	Backoff Backoff
	// MaxInFlight bounds the requests handled at once; more get 503.
	MaxInFlight int
	// AuthCacheTTL is how long a TokenReview verdict is reused.
	AuthCacheTTL time.Duration
	// Now is the clock of throttling and timestamps; default time.Now.
	Now func() time.Time
	// Shared, when set, makes throttling and duplicate suppression hold
	// across replicas (shared.go); nil throttles per replica only.
	Shared SharedThrottle
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.WaitLimit <= 0 {
		o.WaitLimit = DefaultWaitLimit
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Backoff.Base <= 0 {
		o.Backoff.Base = time.Second
	}
	if o.Backoff.Max < o.Backoff.Base {
		o.Backoff.Max = max(time.Minute, o.Backoff.Base)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.AuthCacheTTL <= 0 {
		o.AuthCacheTTL = DefaultAuthCacheTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is the /notify endpoint and its delivery queues.
type Server struct {
	o        Options
	pol      *policy.Notification
	log      *slog.Logger
	m        *metrics
	auth     *authenticator
	teams    map[string]*route
	queues   map[string]*queue
	slack    *slackClient
	mail     *mailer
	throttle *throttle
	busy     chan struct{} // one token per request being handled

	acceptMu sync.Mutex // serialises the throttle and queue room checks with the pushes
	draining atomic.Bool

	startOnce sync.Once
	ctx       context.Context // cancelled when Drain ends: stops the workers
	stop      context.CancelFunc
	workers   sync.WaitGroup
}

// route is where one team's notifications go.
type route struct {
	team     *policy.Team
	email    bool
	webhook  *secret
	channels []string // chat.postMessage
}

// NewServer builds the server from the compiled policy. It checks that
// every team can be delivered to and logs (without values) the secrets that
// cannot be read now; those deliveries fail until the secret appears, but
// the gateway keeps serving admission.
func NewServer(o Options) (*Server, error) {
	o.defaults()
	s := &Server{o: o, pol: o.Policy, log: o.Logger.With("component", "notify"), busy: make(chan struct{}, o.MaxInFlight)}
	s.m = newMetrics(o.Registerer, s.log)
	s.ctx, s.stop = context.WithCancel(context.Background())
	if s.pol == nil {
		return s, nil
	}
	if o.Reviewer == nil {
		return nil, errors.New("notify: a TokenReviewer is required")
	}
	s.auth = newAuthenticator(o.Reviewer, s.pol.AllowedCallers, o.AuthCacheTTL)
	s.throttle = newThrottle(0)
	s.queues = map[string]*queue{}
	for _, d := range destinations {
		s.queues[d] = newQueue(d, &s.o, s.m, s.log)
	}
	var botToken *secret
	if sl := s.pol.Slack; sl != nil {
		botToken = newSecret(sl.BotToken, o.Getenv)
		s.slack = &slackClient{http: o.HTTPClient, apiURL: sl.APIURL, token: botToken}
	} else {
		s.slack = &slackClient{http: o.HTTPClient}
	}
	if c := s.pol.SMTP; c != nil {
		s.mail = &mailer{cfg: *c, user: newSecret(c.Username, o.Getenv), password: newSecret(c.Password, o.Getenv),
			ca: &caPool{file: c.CAFile}, timeout: o.AttemptTimeout}
	}

	s.teams = map[string]*route{}
	var problems []string
	for _, t := range s.pol.Teams {
		r := &route{team: t, webhook: newSecret(t.WebhookURL, o.Getenv)}
		if len(t.Email) > 0 {
			if s.mail == nil {
				problems = append(problems, fmt.Sprintf("team %s has email recipients but notification.email.smtp is not set", t.Name))
			}
			r.email = true
		}
		if len(t.Slack) > 0 {
			if botToken == nil {
				problems = append(problems, fmt.Sprintf("team %s has Slack channels but notification.slack.botTokenFrom is not set", t.Name))
			}
			r.channels = t.Slack
		}
		if !r.email && r.webhook == nil && len(r.channels) == 0 {
			problems = append(problems, fmt.Sprintf("team %s has no channel", t.Name))
		}
		s.teams[t.Name] = r
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("notify: %s", strings.Join(problems, "; "))
	}
	for _, e := range s.CheckSecrets() {
		s.log.Warn("notification secret not readable now; its deliveries fail until it is", "err", e.Error())
	}
	return s, nil
}

// CheckSecrets reads every secret the policy references and returns one
// error per secret that cannot be read; the errors name the source only.
func (s *Server) CheckSecrets() []error {
	if s.pol == nil {
		return nil
	}
	var errs []error
	seen := map[string]bool{}
	check := func(what string, sec *secret) {
		if sec == nil || seen[sec.source()] {
			return
		}
		seen[sec.source()] = true
		if _, err := sec.Value(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	if s.slack.token != nil {
		check("slack.botTokenFrom", s.slack.token)
	}
	if s.mail != nil {
		check("smtp.usernameFrom", s.mail.user)
		check("smtp.passwordFrom", s.mail.password)
		if _, err := s.mail.ca.Pool(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, t := range s.pol.Teams {
		check("team "+t.Name+" Slack webhook", s.teams[t.Name].webhook)
	}
	return errs
}

// Start starts the delivery workers. Events accepted before Start wait in
// their queues.
func (s *Server) Start() {
	if s.pol == nil {
		return
	}
	s.startOnce.Do(func() {
		for _, q := range s.queues {
			for range s.o.Workers {
				s.workers.Add(1)
				go func() {
					defer s.workers.Done()
					q.work(s.ctx)
				}()
			}
		}
	})
}

// Drain stops accepting events (new requests are answered 503 with
// Retry-After) and delivers what is queued until ctx ends. Deliveries still
// queued then are logged with their event id, counted as failed, and
// reported in the returned error; waiting ?wait=true callers get 502. The
// workers are stopped when Drain returns.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	if s.pol == nil {
		return nil
	}
	s.acceptMu.Lock() // an accept in progress finishes its pushes first
	s.acceptMu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.pending() > 0 {
		select {
		case <-ctx.Done():
			break wait
		case <-tick.C:
		}
	}
	s.stop()
	s.workers.Wait()
	var left int
	for _, d := range destinations {
		for _, j := range s.queues[d].takeAll() {
			left++
			err := errors.New("not delivered before the gateway shut down")
			if j.lastErr != nil {
				err = fmt.Errorf("%w (last attempt: %v)", err, j.lastErr)
			}
			s.m.deliveries.WithLabelValues(d, resultFailed).Inc()
			s.log.Error("notification left undelivered at shutdown", "id", j.eventID, "team", j.team,
				"destination", d, "target", j.target, "attempts", j.attempts, "err", err.Error())
			j.done(err)
		}
	}
	if left > 0 {
		return fmt.Errorf("notify: %d deliveries left undelivered at the drain deadline", left)
	}
	return nil
}

// pending is the number of deliveries not finished.
func (s *Server) pending() int {
	n := 0
	for _, q := range s.queues {
		n += q.depth()
	}
	return n
}

// Handler serves POST /notify.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/notify", s)
	return mux
}

// HTTPServer returns the notify listener's own server, with limits and
// timeouts independent of the webhook listener's; serve it with
// ServeTLS(listener, "", ""). tlsConfig is typically certs.Holder.TLSConfig().
func (s *Server) HTTPServer(tlsConfig *tls.Config) *http.Server {
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// ?wait=true answers within WaitLimit.
		WriteTimeout:   s.o.WaitLimit + 15*time.Second,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// HTTP/1.1 only, like the webhook listener: without this ServeTLS
	// would offer h2, whose limits are set elsewhere.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	return srv
}

// Answer is the JSON body of every /notify response. Accepted events get
// id, status (queued or suppressed; delivered or failed with ?wait=true)
// and reason; refused requests get error, and fields for a 400.
type Answer struct {
	ID     string       `json:"id,omitempty"`
	Status string       `json:"status,omitempty"`
	Reason string       `json:"reason"`
	Error  string       `json:"error,omitempty"`
	Fields []FieldError `json:"fields,omitempty"`
}

// Event statuses.
const (
	StatusQueued     = "queued"
	StatusSuppressed = "suppressed"
	StatusDelivered  = "delivered"
	StatusFailed     = "failed"
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, ans, retry := s.serve(w, r)
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
			Fields []FieldError `json:"fields,omitempty"`
		}{ans.ID, ans.Error, ans.Fields})
	} else {
		b, _ = json.Marshal(ans)
	}
	_, _ = w.Write(append(b, '\n'))
}

func refuse(code int, format string, args ...any) (int, Answer, int) {
	return code, Answer{Error: fmt.Sprintf(format, args...)}, 0
}

// serve handles one request: the status, the body and a Retry-After in
// seconds (0 for none).
func (s *Server) serve(w http.ResponseWriter, r *http.Request) (int, Answer, int) {
	select {
	case s.busy <- struct{}{}:
		defer func() { <-s.busy }()
	default:
		return http.StatusServiceUnavailable, Answer{Error: "too many notifications in progress; retry"}, retryBusy
	}
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "method %s is not allowed: POST an event to /notify", r.Method)
	}
	if s.pol == nil {
		return refuse(http.StatusNotFound, "notifications are disabled in this gateway's Katalog (no notification block, or notification.enabled: false)")
	}
	if s.draining.Load() {
		return http.StatusServiceUnavailable, Answer{Error: "the gateway is shutting down; retry, another replica will answer"}, retryDraining
	}

	caller, err := s.auth.check(r.Context(), r)
	if err != nil {
		var rf *refusal
		if !errors.As(err, &rf) {
			rf = &refusal{status: http.StatusInternalServerError, reason: authUnavailable, msg: "cannot verify the caller", detail: err.Error()}
		}
		s.m.authFailures.WithLabelValues(rf.reason).Inc()
		level := slog.LevelDebug
		if rf.reason == authForbidden || rf.reason == authUnavailable {
			level = slog.LevelWarn
		}
		logErr := rf.msg
		if rf.detail != "" {
			logErr += ": " + rf.detail
		}
		s.log.Log(r.Context(), level, "notify caller refused", "reason", rf.reason, "caller", caller, "remote", remoteIP(r), "err", logErr)
		retry := 0
		if rf.status == http.StatusServiceUnavailable {
			retry = retryAuthFailed
		}
		return rf.status, Answer{Error: rf.msg}, retry
	}

	if msg := jsonContentType(r.Header.Get("Content-Type")); msg != "" {
		return refuse(http.StatusUnsupportedMediaType, "%s", msg)
	}
	wait := false
	if v := r.URL.Query().Get("wait"); v != "" {
		if wait, err = strconv.ParseBool(v); err != nil {
			return refuse(http.StatusBadRequest, "query parameter wait=%q is not true or false", clip(v, 32))
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return refuse(http.StatusRequestEntityTooLarge, "the body is %d bytes; the limit is %d", r.ContentLength, MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return refuse(http.StatusRequestEntityTooLarge, "the body is larger than the limit of %d bytes", MaxBodyBytes)
		}
		return refuse(http.StatusBadRequest, "reading the body: %v", err)
	}
	ev, err := DecodeEvent(body, s.o.Now())
	if err != nil {
		var de *DecodeError
		errors.As(err, &de)
		return http.StatusBadRequest, Answer{Error: de.Msg, Fields: de.Fields}, 0
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
		return http.StatusServiceUnavailable, Answer{ID: ev.ID, Error: full}, retryQueueFull
	}
	s.log.Debug("notification accepted", "id", ev.ID, "caller", caller, "teams", ev.Teams, "status", acc.status, "reason", acc.reason)
	if !wait || acc.outcome == nil {
		return http.StatusAccepted, Answer{ID: ev.ID, Status: acc.status, Reason: acc.reason}, 0
	}
	select {
	case <-acc.outcome.done:
	case <-r.Context().Done():
		// The caller went away; the deliveries go on.
		return http.StatusServiceUnavailable, Answer{ID: ev.ID, Error: "the request ended before the delivery outcome"}, 0
	}
	if fails := acc.outcome.failures(); len(fails) > 0 {
		return http.StatusBadGateway, Answer{ID: ev.ID, Status: StatusFailed, Reason: joinReasons(acc.reason, strings.Join(fails, "; "))}, 0
	}
	return http.StatusOK, Answer{ID: ev.ID, Status: StatusDelivered, Reason: acc.reason}, 0
}

// acceptance is the fate of an accepted event.
type acceptance struct {
	status  string   // queued or suppressed
	reason  string   // why suppressed, template fallbacks
	outcome *outcome // nil when nothing was queued
}

// accept renders, throttles and queues ev for each of its teams. full is
// non-empty (and nothing is queued or held) when a queue has no room.
func (s *Server) accept(ev *Event, generatedID, wait bool) (acc acceptance, full string) {
	now := s.o.Now()
	et := parseEventTemplates(ev)
	type plan struct {
		r    *route
		text rendered
		jobs []*job
	}
	plans := make([]*plan, 0, len(ev.Teams))
	var notes []string
	for _, name := range ev.Teams {
		r := s.teams[name]
		text := render(ev, et, r.team, s.pol)
		if len(text.Problems) > 0 {
			s.m.renderErrors.Add(float64(len(text.Problems)))
			s.log.Warn("notification template failed; sending the default text", "id", ev.ID, "team", name, "errors", text.Problems)
			notes = append(notes, fmt.Sprintf("team %s: template error, sent the default text (%s)", name, strings.Join(text.Problems, "; ")))
		}
		plans = append(plans, &plan{r: r, text: text})
	}

	claims := s.claimShared(ev, generatedID, now)
	deadline := time.Now().Add(s.o.MaxAge)
	if wait {
		deadline = time.Now().Add(min(s.o.MaxAge, s.o.WaitLimit))
	}
	out := &outcome{done: make(chan struct{})}

	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	if s.draining.Load() {
		claims.releaseAll()
		return acceptance{}, "the gateway is shutting down; retry, another replica will answer"
	}
	var queued []*plan
	for _, p := range plans {
		name := p.r.team.Name
		if !generatedID {
			if u := s.throttle.held(idKey(ev.ID, name), now); !u.IsZero() {
				s.m.suppressed.WithLabelValues(suppressedDuplicate).Inc()
				notes = append(notes, fmt.Sprintf("team %s: duplicate id %q within the interval", name, ev.ID))
				continue
			}
		}
		if u := s.throttle.held(eventKey(ev, name), now); !u.IsZero() {
			s.m.suppressed.WithLabelValues(suppressedThrottled).Inc()
			notes = append(notes, fmt.Sprintf("team %s: throttled, one notification per %s for this object and condition (next after %s)",
				name, interval(p.r.team, s.pol), u.UTC().Format(time.RFC3339)))
			continue
		}
		if c := claims[name]; c != nil && c.reason != "" {
			s.m.suppressed.WithLabelValues(c.reason).Inc()
			notes = append(notes, c.note)
			continue
		}
		p.jobs = s.jobs(ev, p.r, p.text, deadline, out, claims[name].release)
		queued = append(queued, p)
	}
	if len(queued) == 0 {
		claims.releaseAll()
		return acceptance{status: StatusSuppressed, reason: strings.Join(notes, "; ")}, ""
	}

	need := map[string]int{}
	for _, p := range queued {
		for _, j := range p.jobs {
			need[j.dest]++
		}
	}
	for d, n := range need {
		if !s.queues[d].room(n) {
			claims.releaseAll()
			return acceptance{}, fmt.Sprintf("the %s queue is full (%d deliveries); retry later", d, s.o.QueueSize)
		}
	}
	// Count every job before the first push: a fast delivery must not
	// complete the outcome while other jobs are still to be pushed.
	for _, p := range queued {
		out.add(len(p.jobs))
		delete(claims, p.r.team.Name)
	}
	claims.releaseAll() // teams suppressed here meanwhile
	for _, p := range queued {
		name := p.r.team.Name
		iv := interval(p.r.team, s.pol)
		s.throttle.hold(eventKey(ev, name), now, iv)
		if !generatedID {
			s.throttle.hold(idKey(ev.ID, name), now, iv)
		}
		for _, j := range p.jobs {
			s.queues[j.dest].push(j)
		}
	}
	return acceptance{status: StatusQueued, reason: strings.Join(notes, "; "), outcome: out}, ""
}

// jobs are the deliveries of one event to one team. A failed delivery
// releases the team's keys, here and across replicas (releaseShared).
func (s *Server) jobs(ev *Event, r *route, text rendered, deadline time.Time, out *outcome, releaseShared func()) []*job {
	team := r.team.Name
	keys := []string{eventKey(ev, team), idKey(ev.ID, team)}
	var once sync.Once
	done := func(what string) func(error) {
		return func(err error) {
			if err != nil {
				// Let the next event (or the caller's retry) through.
				once.Do(func() {
					for _, k := range keys {
						s.throttle.release(k)
					}
					releaseShared()
				})
			}
			out.finish(team+" "+what, err)
		}
	}
	var js []*job
	now := time.Now()
	mk := func(dest, target string, send func(context.Context) error) {
		js = append(js, &job{eventID: ev.ID, team: team, dest: dest, target: target, deadline: deadline,
			due: now, send: send, done: done(target)})
	}
	if r.email {
		m := &email{
			To: r.team.Email, Subject: text.Subject, Body: text.Message,
			MessageID: messageID(ev.ID, team), Katalog: ev.KatalogName, Team: team, EventID: ev.ID, Severity: ev.Severity,
		}
		mk(destEmail, "email", func(ctx context.Context) error { return s.mail.send(ctx, m) })
	}
	if r.webhook != nil {
		hook := r.webhook
		mk(destSlackWebhook, "slack webhook", func(ctx context.Context) error { return s.slack.webhook(ctx, hook, text.Message) })
	}
	for _, ch := range r.channels {
		mk(destSlackAPI, "slack "+ch, func(ctx context.Context) error { return s.slack.postMessage(ctx, ch, text.Message) })
	}
	return js
}

// interval is the team's throttle window: team, then defaults, then 15m.
// The check pass resolves it into Team.Interval; the fallbacks cover a
// hand-built policy.
func interval(t *policy.Team, n *policy.Notification) time.Duration {
	switch {
	case t.Interval > 0:
		return t.Interval
	case n.Interval > 0:
		return n.Interval
	}
	return defaultInterval
}

// outcome collects the results of an event's deliveries for ?wait=true.
type outcome struct {
	mu      sync.Mutex
	pending int
	fails   []string
	done    chan struct{}
}

func (o *outcome) add(n int) {
	o.mu.Lock()
	o.pending += n
	o.mu.Unlock()
}

func (o *outcome) finish(what string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.fails = append(o.fails, what+": "+err.Error())
	}
	o.pending--
	if o.pending == 0 {
		close(o.done)
	}
}

func (o *outcome) failures() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.fails)
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

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "gw-" + hex.EncodeToString(b)
}

// messageID is a stable Message-ID per event and team: a retried mail is
// recognisable as the same message.
func messageID(id, team string) string {
	h := sha256.Sum256([]byte(id + "\x00" + team))
	return hex.EncodeToString(h[:16]) + "@orkestra-gateway"
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

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
