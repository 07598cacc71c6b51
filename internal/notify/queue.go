package notify

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Destinations: one queue and worker set each, so a slow Slack never
// delays email.
const (
	destEmail        = "email"
	destSlackWebhook = "slack-webhook"
	destSlackAPI     = "slack-api"
)

var destinations = []string{destEmail, destSlackWebhook, destSlackAPI}

// job is one delivery: one event to one team over one destination (one
// channel for chat.postMessage).
type job struct {
	eventID  string
	team     string
	dest     string
	target   string // the Slack channel, or the recipient count, for logs
	deadline time.Time
	send     func(ctx context.Context) error
	done     func(err error) // called once, with nil or the final error

	attempts int
	due      time.Time
	lastErr  error
	index    int // in the queue's heap
}

// queue holds the jobs of one destination, ordered by when they are due.
// Capacity bounds the jobs waiting plus those being attempted, so a
// destination that retries cannot grow without bound.
type queue struct {
	name     string
	capacity int
	backoff  Backoff
	attempt  time.Duration // timeout of one attempt
	log      *slog.Logger
	m        *Metrics

	mu      sync.Mutex
	waiting jobHeap
	running int
	changed chan struct{} // closed and replaced on every push
}

func newQueue(name string, o *Options, m *Metrics, log *slog.Logger) *queue {
	return &queue{
		name: name, capacity: o.QueueSize, backoff: o.Backoff, attempt: o.AttemptTimeout,
		log: log.With("destination", name), m: m, changed: make(chan struct{}),
	}
}

// depth is the number of jobs waiting or being attempted.
func (q *queue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting) + q.running
}

// room reports whether n more jobs fit. The server serialises room and
// push under its accept lock; workers only ever free room.
func (q *queue) room(n int) bool { return q.depth()+n <= q.capacity }

func (q *queue) push(j *job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pushLocked(j)
}

func (q *queue) pushLocked(j *job) {
	heap.Push(&q.waiting, j)
	q.m.depth.WithLabelValues(q.name).Set(float64(len(q.waiting) + q.running))
	close(q.changed)
	q.changed = make(chan struct{})
}

// next blocks until a job is due, and returns it; nil once ctx is done.
func (q *queue) next(ctx context.Context) *job {
	for {
		// Shut down: a job put back mid-attempt is due at once, and
		// taking it again would spin on its cancelled context.
		if ctx.Err() != nil {
			return nil
		}
		q.mu.Lock()
		var timer *time.Timer
		var fire <-chan time.Time
		if len(q.waiting) > 0 {
			j := q.waiting[0]
			d := time.Until(j.due)
			if d <= 0 {
				heap.Pop(&q.waiting)
				q.running++
				q.mu.Unlock()
				return j
			}
			timer = time.NewTimer(d)
			fire = timer.C
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-changed:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// work runs one worker until ctx is done.
func (q *queue) work(ctx context.Context) {
	for {
		j := q.next(ctx)
		if j == nil {
			return
		}
		q.try(ctx, j)
	}
}

// try makes one attempt and decides: delivered, retry later, or failed.
func (q *queue) try(ctx context.Context, j *job) {
	now := time.Now()
	if !now.Before(j.deadline) {
		q.finish(j, expiredError(j))
		return
	}
	actx, cancel := context.WithDeadline(ctx, minTime(now.Add(q.attempt), j.deadline))
	err := j.send(actx)
	cancel()
	j.attempts++
	if err == nil {
		q.finish(j, nil)
		return
	}
	j.lastErr = err
	if ctx.Err() != nil {
		// Shutting down mid-attempt: put it back for Drain to report.
		q.mu.Lock()
		q.running--
		q.pushLocked(j)
		q.mu.Unlock()
		return
	}
	retry, after := retryable(err)
	if !retry {
		q.finish(j, err)
		return
	}
	delay := q.backoff.delay(j.attempts)
	if after > 0 {
		delay = after // the server said when
	}
	due := time.Now().Add(delay)
	if !due.Before(j.deadline) {
		q.finish(j, fmt.Errorf("%w; giving up after %d attempt(s): the next one (in %s) would pass the event's deadline", err, j.attempts, delay.Round(time.Millisecond)))
		return
	}
	q.m.retries.WithLabelValues(q.name).Inc()
	q.log.Info("notification delivery will be retried", "id", j.eventID, "team", j.team, "target", j.target,
		"attempt", j.attempts, "in", delay.Round(time.Millisecond).String(), "err", err.Error())
	j.due = due
	q.mu.Lock()
	q.running--
	q.pushLocked(j)
	q.mu.Unlock()
}

// finish records the outcome of a job that leaves the queue.
func (q *queue) finish(j *job, err error) {
	q.mu.Lock()
	q.running--
	q.m.depth.WithLabelValues(q.name).Set(float64(len(q.waiting) + q.running))
	q.mu.Unlock()
	if err == nil {
		q.m.deliveries.WithLabelValues(q.name, resultDelivered).Inc()
		q.log.Debug("notification delivered", "id", j.eventID, "team", j.team, "target", j.target, "attempts", j.attempts)
	} else {
		q.m.deliveries.WithLabelValues(q.name, resultFailed).Inc()
		q.log.Error("notification delivery failed", "id", j.eventID, "team", j.team, "target", j.target,
			"attempts", j.attempts, "err", err.Error())
	}
	j.done(err)
}

// takeAll empties the queue (shutdown): the jobs that were never delivered.
func (q *queue) takeAll() []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	left := make([]*job, len(q.waiting))
	copy(left, q.waiting)
	q.waiting = q.waiting[:0]
	q.m.depth.WithLabelValues(q.name).Set(float64(q.running))
	return left
}

func expiredError(j *job) error {
	if j.lastErr != nil {
		return fmt.Errorf("%w; giving up after %d attempt(s): the event's deadline passed", j.lastErr, j.attempts)
	}
	return fmt.Errorf("not attempted before the event's deadline passed")
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Backoff is the retry schedule: Base doubled per failed attempt, capped at
// Max, with jitter (a random part of the upper half) so that the replicas
// and workers that failed together do not retry together.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

func (b Backoff) delay(attempts int) time.Duration {
	d := b.Base
	for i := 1; i < attempts && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h jobHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}
