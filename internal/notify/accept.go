package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// acceptance is the fate of an accepted event.
type acceptance struct {
	status  string   // queued or suppressed
	reason  string   // why suppressed, template fallbacks
	outcome *outcome // nil when nothing was queued
}

// accept renders, throttles and queues ev for each of its teams. full is
// non-empty (and nothing is queued or held) when a queue has no room.
func (s *Server) accept(ev *event, generatedID, wait bool) (acc acceptance, full string) {
	now := s.o.Now()
	type plan struct {
		r    *route
		text rendered
		jobs []*job
	}
	plans := make([]*plan, 0, len(ev.Teams))
	var notes []string
	for _, name := range ev.Teams {
		r := s.teams[name]
		text := render(ev, r.team, s.pol)
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
		return acceptance{status: statusSuppressed, reason: strings.Join(notes, "; ")}, ""
	}

	need := map[string]int{}
	for _, p := range queued {
		for _, j := range p.jobs {
			need[j.dest]++
		}
	}
	for d, n := range need {
		if !s.queues[d].room(n) {
			s.m.queueFull.WithLabelValues(d).Inc()
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
	return acceptance{status: statusQueued, reason: strings.Join(notes, "; "), outcome: out}, ""
}

// jobs are the deliveries of one event to one team. A failed delivery
// releases the team's keys, here and across replicas (releaseShared).
func (s *Server) jobs(ev *event, r *route, text rendered, deadline time.Time, out *outcome, releaseShared func()) []*job {
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
		mk(destSlackWebhook, "slack webhook", func(ctx context.Context) error { return s.slack.webhook(ctx, hook, text.Slack) })
	}
	for _, ch := range r.channels {
		mk(destSlackAPI, "slack "+ch, func(ctx context.Context) error { return s.slack.postMessage(ctx, ch, text.Slack) })
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
