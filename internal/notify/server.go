package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Server is the /notify endpoint and its delivery queues.
type Server struct {
	o        Options
	pol      *policy.Notification
	log      *slog.Logger
	m        *Metrics
	auth     *authenticator
	callers  *callerLimiter
	logs     *logLimiter
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
	s := &Server{o: o, pol: o.Policy, log: o.Logger.With("component", "notify"), busy: make(chan struct{}, o.MaxInFlight), m: o.Metrics}
	s.logs = newLogLimiter(s.m.logsDropped.Inc)
	s.ctx, s.stop = context.WithCancel(context.Background())
	if s.pol == nil {
		return s, nil
	}
	if o.Reviewer == nil {
		return nil, errors.New("notify: a TokenReviewer is required")
	}
	s.auth = newAuthenticator(o.Reviewer, s.pol.Callers(o.Namespace), s.pol.Audience, o.Auth)
	s.auth.reviewed = func(err error) {
		if err != nil {
			s.m.reviews.WithLabelValues(resultError).Inc()
		} else {
			s.m.reviews.WithLabelValues(resultSuccess).Inc()
		}
	}
	s.callers = newCallerLimiter(rate.Limit(o.CallerRate), o.CallerBurst)
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
	for _, e := range s.checkSecrets() {
		s.log.Warn("notification secret not readable now; its deliveries fail until it is", "err", e.Error())
	}
	return s, nil
}

// checkSecrets reads every secret the policy references and returns one
// error per secret that cannot be read; the errors name the source only.
func (s *Server) checkSecrets() []error {
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
	// An accept in progress finishes its pushes first: taking the lock waits
	// for it, and every later accept sees draining.
	s.acceptMu.Lock()
	//lint:ignore SA2001 the empty critical section is the barrier
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

// Listener caps ln's connections (MaxConns in all, MaxConnsPerAddress from
// one remote address); serve the notify listener on what it returns.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &capListener{Listener: ln, max: s.o.MaxConns, perAddr: s.o.MaxConnsPerAddress, by: map[string]int{},
		onRefused: s.m.limited.WithLabelValues(limitConnection).Inc}
}
