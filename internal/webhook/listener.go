package webhook

import (
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ListenerOptions configure a Listener; every field is optional.
type ListenerOptions struct {
	// Logger receives the listener's log lines. Default: discard.
	Logger *slog.Logger
	// MaxBytesInFlight bounds the request bodies the listener's endpoints
	// hold at once, counted as the capacity of their buffers. A request
	// whose body would take the total past it is answered 503 with
	// Retry-After. Zero or less: unbounded.
	MaxBytesInFlight int64
	// BadRequestLogs is how many lines about malformed requests are logged
	// per second at most, after a burst of BadRequestBurst. Lines beyond
	// are counted, not written. Defaults: defaultBadRequestLogs and
	// defaultBadRequestBurst.
	BadRequestLogs  float64
	BadRequestBurst int
	// Metrics receives the listener's counters (NewListenerMetrics). Nil:
	// private, unregistered collectors.
	Metrics *ListenerMetrics
}

// Defaults of the bad-request log limiter: a flood of malformed requests
// writes a burst, then a line every other second.
const (
	defaultBadRequestLogs  = 0.5
	defaultBadRequestBurst = 10
)

// retryAfterSeconds is the Retry-After of a request refused because the
// listener's budget was spent: bodies in flight are read and answered
// within a second or two (or dropped by the read timeout).
const retryAfterSeconds = "1"

// Listener holds what every endpoint of one listener shares: the budget of
// body bytes in flight, the bad-request log limiter and their metrics. It
// is safe for concurrent use. A nil *Listener is unbounded and logs
// nothing.
type Listener struct {
	log   *slog.Logger
	limit int64 // 0: unbounded
	used  atomic.Int64

	bad        *rate.Limiter
	suppressed atomic.Int64     // lines not logged since the last one logged
	now        func() time.Time // the limiter's clock (tests set it)

	m *ListenerMetrics
}

// NewListener returns the shared state of one listener.
func NewListener(o ListenerOptions) *Listener {
	l := &Listener{log: o.Logger, limit: max(o.MaxBytesInFlight, 0), m: o.Metrics, now: time.Now}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.m == nil {
		l.m = NewListenerMetrics()
	}
	r, b := o.BadRequestLogs, o.BadRequestBurst
	if r <= 0 {
		r = defaultBadRequestLogs
	}
	if b <= 0 {
		b = defaultBadRequestBurst
	}
	l.bad = rate.NewLimiter(rate.Limit(r), b)
	return l
}

// inFlight is the capacity of the body buffers the endpoints hold now.
func (l *Listener) inFlight() int64 {
	if l == nil {
		return 0
	}
	return l.used.Load()
}

// fits reports whether n more bytes would fit the budget now, without
// taking them: a request announcing a body the budget cannot hold is
// refused before its body is read.
func (l *Listener) fits(n int64) bool {
	return l == nil || l.limit == 0 || l.used.Load()+n <= l.limit
}

// charge takes n bytes of the budget; false when they do not fit.
func (l *Listener) charge(n int64) bool {
	if l == nil || n <= 0 {
		return true
	}
	for {
		cur := l.used.Load()
		if l.limit > 0 && cur+n > l.limit {
			return false
		}
		if l.used.CompareAndSwap(cur, cur+n) {
			l.m.inFlight.Add(float64(n))
			return true
		}
	}
}

// release gives n bytes back.
func (l *Listener) release(n int64) {
	if l == nil || n <= 0 {
		return
	}
	l.used.Add(-n)
	l.m.inFlight.Sub(float64(n))
}

// rejected counts a request refused for the budget.
func (l *Listener) rejected() {
	if l != nil {
		l.m.rejected.Inc()
	}
}

// panicked counts a recovered panic.
func (l *Listener) panicked() {
	if l != nil {
		l.m.panics.Inc()
	}
}

// badRequest logs a malformed request, unless the limiter says too many
// were logged lately: the line is then counted as suppressed, and the next
// line logged says how many were.
func (l *Listener) badRequest(msg string, attrs ...any) {
	if l == nil {
		return
	}
	if !l.bad.AllowN(l.now(), 1) {
		l.suppressed.Add(1)
		l.m.suppressed.Inc()
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		attrs = append(attrs, "suppressedSinceLastLine", n)
	}
	l.log.Warn(msg, attrs...)
}
