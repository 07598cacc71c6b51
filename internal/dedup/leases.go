package dedup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// LeaseGVR is the resource of the claims.
var LeaseGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// namePrefix starts the name of every Lease this package writes.
const namePrefix = "orkestra-notify-"

// Defaults of Options.
const (
	defaultTimeout  = 2 * time.Second
	defaultMaxKnown = 100_000
	releaseTimeout  = 5 * time.Second
	warnEvery       = 10 * time.Second
)

// Claim results, the values of the result label of
// orkestra_gateway_notify_claims_total.
const (
	ResultClaimed     = "claimed"     // this replica holds the key: it delivers
	ResultHeld        = "held"        // another replica holds it: suppressed
	ResultUnavailable = "unavailable" // no decision: delivered anyway
)

// Options configure Leases. Namespace, Holder and Scope are required.
type Options struct {
	// Namespace holds the Leases: the gateway's own.
	Namespace string
	// Holder is written as spec.holderIdentity: the pod's name.
	Holder string
	// Scope separates gateways sharing a namespace: the Katalog's name,
	// hashed with every key.
	Scope string
	// Labels are set on every Lease (the gateway's managed-by and Katalog
	// labels), so an uninstall can remove them by selector.
	Labels map[string]string
	// Timeout bounds one claim (a create, a read and an update at most).
	Timeout time.Duration
	// MaxKnown bounds the Leases remembered for Sweep; beyond it the oldest
	// expiry is forgotten (left to whoever meets its key next).
	MaxKnown int
	// Logger receives unavailable claims (rate-limited) and cleanup errors.
	Logger *slog.Logger
	// Metrics receives the claim metrics (NewMetrics, registered once by
	// the caller). Nil: private, unregistered collectors.
	Metrics *Metrics
	// Now is the clock compared with the Leases' renewTime; default time.Now.
	Now func() time.Time
}

// Leases claims keys across replicas. Safe for concurrent use.
type Leases struct {
	client dynamic.Interface
	o      Options
	log    *slog.Logger

	m *Metrics

	mu       sync.Mutex
	known    map[string]known // Lease name -> what this replica last saw or wrote
	lastWarn time.Time
	quiet    int // unavailable claims not logged since lastWarn
}

// known is a Lease as last seen: its resourceVersion guards the delete.
type known struct {
	rv     string
	expiry time.Time
}

// New returns Leases writing through client.
func New(client dynamic.Interface, o Options) (*Leases, error) {
	switch {
	case client == nil:
		return nil, errors.New("dedup: no API client")
	case o.Namespace == "":
		return nil, errors.New("dedup: the namespace is empty")
	case o.Holder == "":
		return nil, errors.New("dedup: the holder identity (pod name) is empty")
	case o.Scope == "":
		return nil, errors.New("dedup: the scope (Katalog name) is empty")
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.MaxKnown <= 0 {
		o.MaxKnown = defaultMaxKnown
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	l := &Leases{client: client, o: o, log: o.Logger.With("component", "notify-leases"), m: o.Metrics, known: map[string]known{}}
	return l, nil
}

// Name is the Lease of key in scope: a hash, so any key gives a valid name
// and the name reveals nothing of the key.
func Name(scope, key string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + key))
	return namePrefix + hex.EncodeToString(h[:16])
}

// Claim claims key for d (rounded up to whole seconds, the Lease's unit).
//
//   - held is non-zero when another replica holds the key: until then.
//   - Otherwise, when err is nil, this replica holds it; release gives it up
//     (call it when the delivery fails; it returns at once and is safe to
//     call more than once).
//   - err is non-nil when the API server could not decide; the caller
//     delivers anyway. The claim is counted and logged (rate-limited).
func (l *Leases) Claim(ctx context.Context, key string, d time.Duration) (held time.Time, release func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	name := Name(l.o.Scope, key)
	held, rv, err := l.claim(ctx, name, d)
	switch {
	case err != nil:
		l.m.unavailable.Inc()
		l.warn(name, err)
		return time.Time{}, nil, err
	case !held.IsZero():
		l.m.held.Inc()
		return held, nil, nil
	}
	l.m.claimed.Inc()
	var once sync.Once
	return time.Time{}, func() { once.Do(func() { go l.release(name, rv) }) }, nil
}

// claim returns (held, "", nil) when another replica holds the Lease, or
// (zero, resourceVersion written, nil) when this replica now does.
func (l *Leases) claim(ctx context.Context, name string, d time.Duration) (time.Time, string, error) {
	ri := l.client.Resource(LeaseGVR).Namespace(l.o.Namespace)
	secs := leaseSeconds(d)
	// Twice at most: the Lease may be deleted (swept, released) between
	// our create and our read, or our read and our update.
	for range 2 {
		now := l.o.Now()
		created, err := ri.Create(ctx, l.lease(name, now, secs), metav1.CreateOptions{})
		if err == nil {
			l.remember(name, created.GetResourceVersion(), now.Add(time.Duration(secs)*time.Second))
			return time.Time{}, created.GetResourceVersion(), nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return time.Time{}, "", fmt.Errorf("creating Lease %s/%s: %w", l.o.Namespace, name, err)
		}
		cur, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return time.Time{}, "", fmt.Errorf("reading Lease %s/%s: %w", l.o.Namespace, name, err)
		}
		exp, _ := leaseExpiry(cur.Object) // unreadable: expired, so it is taken over rather than blocking forever
		if now = l.o.Now(); now.Before(exp) {
			l.remember(name, cur.GetResourceVersion(), exp)
			return exp, "", nil
		}
		// Expired: take it over, guarded by the resourceVersion just read.
		take := l.lease(name, now, secs)
		take.SetResourceVersion(cur.GetResourceVersion())
		updated, err := ri.Update(ctx, take, metav1.UpdateOptions{})
		switch {
		case err == nil:
			l.remember(name, updated.GetResourceVersion(), now.Add(time.Duration(secs)*time.Second))
			return time.Time{}, updated.GetResourceVersion(), nil
		case apierrors.IsConflict(err):
			// Another replica took it over first: it delivers. Its
			// expiry is not known without another read; ours would
			// have been now+d.
			return now.Add(time.Duration(secs) * time.Second), "", nil
		case apierrors.IsNotFound(err):
			continue
		default:
			return time.Time{}, "", fmt.Errorf("taking over expired Lease %s/%s: %w", l.o.Namespace, name, err)
		}
	}
	return time.Time{}, "", fmt.Errorf("the Lease %s/%s was deleted twice while being claimed", l.o.Namespace, name)
}

// lease is the Lease this replica writes for name, held for secs from now.
func (l *Leases) lease(name string, now time.Time, secs int32) *unstructured.Unstructured {
	at := now.UTC().Format(metav1.RFC3339Micro)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "coordination.k8s.io/v1",
		"kind":       "Lease",
		"metadata":   map[string]any{"name": name, "namespace": l.o.Namespace},
		"spec": map[string]any{
			"holderIdentity":       l.o.Holder,
			"leaseDurationSeconds": int64(secs),
			"acquireTime":          at,
			"renewTime":            at,
		},
	}}
	if len(l.o.Labels) > 0 {
		u.SetLabels(maps.Clone(l.o.Labels))
	}
	return u
}

// leaseSeconds is d in whole seconds, rounded up, within the field's range.
func leaseSeconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	switch {
	case s < 1:
		return 1
	case s > math.MaxInt32:
		return math.MaxInt32
	}
	return int32(s)
}

// leaseExpiry reads when a Lease expires: spec.renewTime (else acquireTime) plus
// spec.leaseDurationSeconds. ok is false when the fields are missing or
// malformed (a Lease not written by a gateway); such a Lease counts as
// expired.
func leaseExpiry(obj map[string]any) (expiry time.Time, ok bool) {
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return time.Time{}, false
	}
	var secs int64
	switch v := spec["leaseDurationSeconds"].(type) {
	case int64:
		secs = v
	case float64: // JSON decoded without the unstructured converter
		if v != math.Trunc(v) {
			return time.Time{}, false
		}
		secs = int64(v)
	default:
		return time.Time{}, false
	}
	if secs <= 0 || secs > math.MaxInt32 {
		return time.Time{}, false
	}
	at, _ := spec["renewTime"].(string)
	if at == "" {
		at, _ = spec["acquireTime"].(string)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return time.Time{}, false
	}
	return t.Add(time.Duration(secs) * time.Second), true
}

// remember records a Lease for Sweep, forgetting the earliest expiry when
// full.
func (l *Leases) remember(name, rv string, expiry time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.known[name]; !ok && len(l.known) >= l.o.MaxKnown {
		var first string
		var at time.Time
		for n, k := range l.known {
			if first == "" || k.expiry.Before(at) {
				first, at = n, k.expiry
			}
		}
		delete(l.known, first)
	}
	l.known[name] = known{rv: rv, expiry: expiry}
}

// release deletes a Lease this replica holds, unless it changed since.
func (l *Leases) release(name, rv string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if _, err := l.remove(ctx, name, rv); err != nil {
		l.m.failed.Inc()
		l.log.Warn("releasing a notification claim after a failed delivery", "lease", name, "err", err.Error())
	}
}

// remove deletes name if it still has resourceVersion rv, and forgets it.
// Gone or changed (another replica took it over) is no error; removed says
// whether this call deleted it.
func (l *Leases) remove(ctx context.Context, name, rv string) (removed bool, err error) {
	err = l.client.Resource(LeaseGVR).Namespace(l.o.Namespace).Delete(ctx, name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &rv},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return false, err
	}
	if err == nil {
		l.m.removed.Inc()
	}
	l.mu.Lock()
	if k, ok := l.known[name]; ok && k.rv == rv {
		delete(l.known, name)
	}
	l.mu.Unlock()
	return err == nil, nil
}

// Sweep removes the expired Leases this replica knows, each only if it is
// unchanged since it was seen (a Lease another replica took over is left to
// that replica). It returns how many it removed and the errors joined; the
// Leases it could not remove are tried again on the next call.
func (l *Leases) Sweep(ctx context.Context) (int, error) {
	now := l.o.Now()
	l.mu.Lock()
	due := map[string]string{}
	for n, k := range l.known {
		if !now.Before(k.expiry) {
			due[n] = k.rv
		}
	}
	l.mu.Unlock()
	removed := 0
	var errs []error
	for name, rv := range due {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		ok, err := l.remove(ctx, name, rv)
		if err != nil {
			l.m.failed.Inc()
			errs = append(errs, fmt.Errorf("removing expired Lease %s/%s: %w", l.o.Namespace, name, err))
			continue
		}
		if ok {
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// Known is the number of Leases remembered for Sweep.
func (l *Leases) Known() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.known)
}

// warn logs an unavailable claim, at most once per warnEvery with the count
// of those not logged.
func (l *Leases) warn(name string, err error) {
	l.mu.Lock()
	now := l.o.Now()
	if !l.lastWarn.IsZero() && now.Sub(l.lastWarn) < warnEvery {
		l.quiet++
		l.mu.Unlock()
		return
	}
	quiet := l.quiet
	l.lastWarn, l.quiet = now, 0
	l.mu.Unlock()
	l.log.Warn("cannot claim a notification key across replicas; delivering anyway (another replica may deliver it too)",
		"lease", name, "err", err.Error(), "notLogged", quiet)
}
