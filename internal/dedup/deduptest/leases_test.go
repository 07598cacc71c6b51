// Package deduptest checks package dedup against a real kube-apiserver.
package deduptest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/dedup"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func newNamespace(t *testing.T) string { return env.Namespace(t, "dedup") }

type replica struct {
	*dedup.Leases
	reg *metrics.Registry
}

func newReplica(t *testing.T, client dynamic.Interface, ns, holder string, c *testenv.Clock) replica {
	t.Helper()
	reg := metrics.NewRegistry()
	m := dedup.NewMetrics()
	reg.MustRegister(m)
	o := dedup.Options{Namespace: ns, Holder: holder, Scope: "shop", Metrics: m,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "orkestra-gateway"}}
	if c != nil {
		o.Now = c.Now
	}
	l, err := dedup.New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	return replica{l, reg}
}

func (r replica) count(t *testing.T, result string) float64 {
	t.Helper()
	n, err := testutil.GatherAndCount(metricstest.Gatherer(r.reg), "orkestra_gateway_notify_claims_total")
	if err != nil || n != 3 {
		t.Fatalf("claims metric: %d series, %v", n, err)
	}
	return testenv.CounterValue(t, r.reg, "orkestra_gateway_notify_claims_total", "result", result)
}

func getLease(t *testing.T, ns, name string) (map[string]any, bool) {
	t.Helper()
	u, err := env.Dynamic.Resource(dedup.LeaseGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return u.Object, true
}

// Three replicas claim the same key at the same instant: exactly one
// holds it, the others see it held until its expiry; the Lease records
// the holder, the duration and the labels.
func TestOneClaimantAmongReplicas(t *testing.T) {
	ns := newNamespace(t)
	c := testenv.NewClock(time.Now())
	var rs []replica
	for i := range 3 {
		rs = append(rs, newReplica(t, env.Dynamic, ns, fmt.Sprintf("gateway-%d", i), c))
	}
	for round := range 5 {
		key := fmt.Sprintf("event\x00shop\x00Ready=False\x00ops\x00web\x00web-%d", round)
		type result struct {
			held time.Time
			rel  func()
			err  error
		}
		res := make([]result, len(rs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, r := range rs {
			wg.Go(func() {
				<-start
				h, rel, err := r.Claim(context.Background(), key, 90*time.Second)
				res[i] = result{h, rel, err}
			})
		}
		close(start)
		wg.Wait()
		var winners []int
		for i, r := range res {
			if r.err != nil {
				t.Fatalf("replica %d: %v", i, r.err)
			}
			if r.held.IsZero() {
				if r.rel == nil {
					t.Errorf("replica %d claimed without a release", i)
				}
				winners = append(winners, i)
			} else if d := r.held.Sub(c.Now()); d < 89*time.Second || d > 91*time.Second {
				t.Errorf("replica %d: held for %s, want the 90 s of the winner's Lease", i, d)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d replicas claimed the key, want exactly one", round, len(winners))
		}
		obj, ok := getLease(t, ns, dedup.Name("shop", key))
		if !ok {
			t.Fatal("no Lease for the claimed key")
		}
		spec := obj["spec"].(map[string]any)
		if spec["holderIdentity"] != fmt.Sprintf("gateway-%d", winners[0]) || spec["leaseDurationSeconds"] != int64(90) {
			t.Errorf("Lease spec %v, want holder gateway-%d for 90 s", spec, winners[0])
		}
		if l := obj["metadata"].(map[string]any)["labels"].(map[string]any); l["app.kubernetes.io/managed-by"] != "orkestra-gateway" {
			t.Errorf("Lease labels %v", l)
		}
	}
	var claimed, held float64
	for _, r := range rs {
		claimed += r.count(t, dedup.ResultClaimed)
		held += r.count(t, dedup.ResultHeld)
	}
	if claimed != 5 || held != 10 {
		t.Errorf("claims: %v claimed, %v held; want 5 and 10", claimed, held)
	}
}

// An expired Lease is taken over by exactly one of the replicas racing for
// it (update guarded by resourceVersion); the Lease's duration is the
// interval rounded up to whole seconds.
func TestExpiredLeaseTakenOverOnce(t *testing.T) {
	ns := newNamespace(t)
	c := testenv.NewClock(time.Now())
	a := newReplica(t, env.Dynamic, ns, "gateway-a", c)
	key := "id\x00ev-1\x00ops"
	if held, _, err := a.Claim(context.Background(), key, 1500*time.Millisecond); err != nil || !held.IsZero() {
		t.Fatalf("first claim: held %v, %v", held, err)
	}
	obj, _ := getLease(t, ns, dedup.Name("shop", key))
	if d := obj["spec"].(map[string]any)["leaseDurationSeconds"]; d != int64(2) {
		t.Errorf("leaseDurationSeconds %v for 1.5 s, want 2", d)
	}
	c.Advance(2 * time.Second)
	var rs []replica
	for i := range 4 {
		rs = append(rs, newReplica(t, env.Dynamic, ns, fmt.Sprintf("gateway-%d", i), c))
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			held, _, err := r.Claim(context.Background(), key, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if held.IsZero() {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d replicas took the expired Lease over, want exactly one", wins.Load())
	}
	// The original holder now sees it held by the new one.
	if held, _, err := a.Claim(context.Background(), key, time.Minute); err != nil || held.IsZero() {
		t.Errorf("after the takeover: held %v, %v; want held", held, err)
	}
}

// Release deletes the claimant's Lease (so another replica may claim at
// once), but never a Lease another replica wrote since.
func TestRelease(t *testing.T) {
	ns := newNamespace(t)
	c := testenv.NewClock(time.Now())
	a := newReplica(t, env.Dynamic, ns, "gateway-a", c)
	b := newReplica(t, env.Dynamic, ns, "gateway-b", c)
	_, rel, err := a.Claim(context.Background(), "k1", time.Minute)
	if err != nil || rel == nil {
		t.Fatalf("claim: %v", err)
	}
	rel()
	rel() // idempotent
	waitGone(t, ns, dedup.Name("shop", "k1"))
	if held, _, err := b.Claim(context.Background(), "k1", time.Minute); err != nil || !held.IsZero() {
		t.Fatalf("after the release: held %v, %v; want claimed", held, err)
	}

	// a's claim expires, b takes it over; a's late release leaves b's Lease.
	_, relA, err := a.Claim(context.Background(), "k2", time.Second)
	if err != nil || relA == nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Second)
	if held, _, err := b.Claim(context.Background(), "k2", time.Minute); err != nil || !held.IsZero() {
		t.Fatalf("takeover: held %v, %v", held, err)
	}
	relA()
	time.Sleep(300 * time.Millisecond) // release is asynchronous; give it the time to do harm
	obj, ok := getLease(t, ns, dedup.Name("shop", "k2"))
	if !ok || obj["spec"].(map[string]any)["holderIdentity"] != "gateway-b" {
		t.Errorf("a stale release removed or changed the new holder's Lease: %v", obj)
	}
}

func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := getLease(t, ns, name); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lease %s still present", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Sweep removes the expired Leases the replica knows (its own and those it
// found held), and nothing unexpired or rewritten since.
func TestSweep(t *testing.T) {
	ns := newNamespace(t)
	c := testenv.NewClock(time.Now())
	a := newReplica(t, env.Dynamic, ns, "gateway-a", c)
	b := newReplica(t, env.Dynamic, ns, "gateway-b", c)
	ctx := context.Background()
	mustClaim := func(r replica, key string, d time.Duration) {
		t.Helper()
		if held, _, err := r.Claim(ctx, key, d); err != nil || !held.IsZero() {
			t.Fatalf("claim %q: held %v, %v", key, held, err)
		}
	}
	mustClaim(a, "short", 10*time.Second)
	mustClaim(a, "long", time.Hour)
	mustClaim(b, "theirs", 10*time.Second)
	if held, _, _ := a.Claim(ctx, "theirs", time.Minute); held.IsZero() {
		t.Fatal("b's key not held for a")
	}
	mustClaim(a, "retaken", 10*time.Second)
	c.Advance(11 * time.Second)
	mustClaim(b, "retaken", time.Hour) // b takes it over: a's knowledge is stale

	n, err := a.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("swept %d Leases, want 2 (short, theirs)", n)
	}
	for key, want := range map[string]bool{"short": false, "theirs": false, "long": true, "retaken": true} {
		if _, ok := getLease(t, ns, dedup.Name("shop", key)); ok != want {
			t.Errorf("Lease of %q present=%v after the sweep, want %v", key, ok, want)
		}
	}
	if k := a.Known(); k != 1 {
		t.Errorf("a remembers %d Leases after the sweep, want 1 (long)", k)
	}
	// Nothing more to do until "long" expires.
	if n, err := a.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("second sweep: %d, %v", n, err)
	}
}

// With the API server unreachable no decision can be made: Claim says so
// (the caller delivers anyway) and counts it, quickly.
func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + addr
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, client, "anywhere", "gateway-a", nil)
	held, rel, err := r.Claim(context.Background(), "k", time.Minute)
	if err == nil || !held.IsZero() || rel != nil {
		t.Fatalf("claim with the API server down: held %v, release %v, err %v", held, rel != nil, err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say why", err)
	}
	if got := r.count(t, dedup.ResultUnavailable); got != 1 {
		t.Errorf("unavailable claims counted %v, want 1", got)
	}
}

// Bad options are errors, not defaults.
func TestNewChecksOptions(t *testing.T) {
	for _, o := range []dedup.Options{
		{Holder: "h", Scope: "s"},
		{Namespace: "n", Scope: "s"},
		{Namespace: "n", Holder: "h"},
	} {
		if _, err := dedup.New(env.Dynamic, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := dedup.New(nil, dedup.Options{Namespace: "n", Holder: "h", Scope: "s"}); err == nil {
		t.Error("New without a client accepted")
	}
}

// Collectors are built once and injected: two Leases given one Metrics
// (registered once) count into the same series, which exist at zero
// before any claim.
func TestMetricsSharedByLeases(t *testing.T) {
	ns := newNamespace(t)
	reg := metrics.NewRegistry()
	m := dedup.NewMetrics()
	reg.MustRegister(m)
	if n, err := testutil.GatherAndCount(metricstest.Gatherer(reg), "orkestra_gateway_notify_claims_total", "orkestra_gateway_notify_lease_cleanup_total"); err != nil || n != 5 {
		t.Fatalf("before any claim: %d series (%v), want 5 at zero", n, err)
	}
	var ls []*dedup.Leases
	for i := range 2 {
		l, err := dedup.New(env.Dynamic, dedup.Options{Namespace: ns, Holder: fmt.Sprintf("gateway-%d", i), Scope: "shop", Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	for _, l := range ls {
		if _, _, err := l.Claim(context.Background(), "one key", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	want := `# HELP orkestra_gateway_notify_claims_total Claims of a throttle key or event id across replicas (one Lease each), by result: claimed (this replica delivers), held (another replica holds it: suppressed), unavailable (the API server could not decide: delivered anyway, possibly twice).
# TYPE orkestra_gateway_notify_claims_total counter
orkestra_gateway_notify_claims_total{result="claimed"} 1
orkestra_gateway_notify_claims_total{result="held"} 1
orkestra_gateway_notify_claims_total{result="unavailable"} 0
`
	if err := testutil.GatherAndCompare(metricstest.Gatherer(reg), strings.NewReader(want), "orkestra_gateway_notify_claims_total"); err != nil {
		t.Error(err)
	}
}
