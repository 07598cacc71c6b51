package notify

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Defaults of Options.
const (
	defaultQueueSize      = 256
	defaultWorkers        = 4
	defaultMaxAge         = 10 * time.Minute
	defaultWaitLimit      = 30 * time.Second
	defaultAttemptTimeout = 15 * time.Second
	// defaultMaxInFlight bounds the authenticated requests handled at once.
	defaultMaxInFlight = 32
	// defaultCallerRate and defaultCallerBurst are each allowed caller's
	// events per second; beyond them it is answered 429 with Retry-After.
	defaultCallerRate  = 50
	defaultCallerBurst = 100
	// defaultMaxConns and defaultMaxConnsPerAddress cap the connections of
	// the notify listener; connections beyond are closed when accepted.
	defaultMaxConns           = 256
	defaultMaxConnsPerAddress = 64
	// defaultRefusalDelay holds every 429 before it is sent.
	defaultRefusalDelay = time.Second
	defaultInterval     = 15 * time.Minute
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
	// Namespace is the gateway's namespace: the default allowed caller is
	// the Runtime's service account there when the policy names none.
	Namespace string
	// Reviewer checks bearer tokens (NewTokenReviewer in the gateway, on a
	// client of its own).
	Reviewer TokenReviewer
	// Logger receives final delivery failures (with the event id), retries,
	// refused callers and template errors; never a secret value.
	Logger *slog.Logger
	// Metrics are the collectors (NewMetrics); nil builds unregistered ones.
	Metrics *Metrics
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
	// MaxInFlight bounds the authenticated requests handled at once; more
	// get 503. Requests being authenticated hold no slot.
	MaxInFlight int
	// CallerRate and CallerBurst are each allowed caller's token bucket.
	CallerRate  float64
	CallerBurst int
	// RefusalDelay is how long a 429 (a caller over its rate, an address
	// that keeps failing authentication) is held before it is sent. A
	// caller that honours Retry-After loses nothing; one that floods then
	// sends at most one request per connection per delay, and connections
	// are capped, so a flood cannot take the CPU admission needs. Zero
	// means the default (1s); negative, none.
	RefusalDelay time.Duration
	// MaxConns and MaxConnsPerAddress cap the listener's connections
	// (Server.Listener).
	MaxConns           int
	MaxConnsPerAddress int
	// Auth bounds the cost of authenticating callers.
	Auth AuthLimits
	// AuthCacheTTL is how long a TokenReview verdict is reused (Auth.CacheTTL
	// when that is unset).
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
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
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
	orDefault(&o.QueueSize, defaultQueueSize)
	orDefault(&o.Workers, defaultWorkers)
	orDefault(&o.MaxAge, defaultMaxAge)
	orDefault(&o.WaitLimit, defaultWaitLimit)
	orDefault(&o.AttemptTimeout, defaultAttemptTimeout)
	orDefault(&o.Backoff.Base, time.Second)
	if o.Backoff.Max < o.Backoff.Base {
		o.Backoff.Max = max(time.Minute, o.Backoff.Base)
	}
	orDefault(&o.MaxInFlight, defaultMaxInFlight)
	orDefault(&o.CallerRate, defaultCallerRate)
	orDefault(&o.CallerBurst, defaultCallerBurst)
	orDefault(&o.MaxConns, defaultMaxConns)
	orDefault(&o.MaxConnsPerAddress, defaultMaxConnsPerAddress)
	if o.RefusalDelay == 0 {
		o.RefusalDelay = defaultRefusalDelay
	}
	orDefault(&o.Auth.CacheTTL, o.AuthCacheTTL)
	o.Auth.defaults()
	if o.Now == nil {
		o.Now = time.Now
	}
}

// orDefault sets a setting that is zero or less (unset) to its default d.
func orDefault[T int | float64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
