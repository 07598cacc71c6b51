package notify

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestThrottleHoldsUntilExpiry(t *testing.T) {
	th := newThrottle(10)
	th.hold("k", t0, time.Minute)
	if u := th.held("k", t0.Add(59*time.Second)); !u.Equal(t0.Add(time.Minute)) {
		t.Errorf("held = %v", u)
	}
	if u := th.held("k", t0.Add(time.Minute)); !u.IsZero() {
		t.Errorf("still held at expiry: %v", u)
	}
	th.hold("k", t0.Add(2*time.Minute), time.Minute)
	th.release("k")
	if u := th.held("k", t0.Add(2*time.Minute)); !u.IsZero() {
		t.Errorf("held after release: %v", u)
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	th := newThrottle(100)
	now := t0
	// Expired keys go as new ones arrive.
	for i := range 1000 {
		now = now.Add(time.Second)
		th.hold("k"+strconv.Itoa(i), now, 10*time.Second)
	}
	if n := th.len(); n > 11 {
		t.Errorf("%d keys held, want only the unexpired ones (<= 11)", n)
	}
	// A flood of live keys: bounded, the ones closest to expiry go first.
	th.hold("long", now, time.Hour)
	for i := range 1000 {
		th.hold("flood"+strconv.Itoa(i), now, time.Minute)
	}
	if n := th.len(); n > 100 {
		t.Errorf("%d keys held, bound 100", n)
	}
	if th.held("long", now).IsZero() {
		t.Error("the key with the latest expiry was evicted first")
	}
	// Release and re-hold churn does not grow the heap without bound.
	for i := range 1000 {
		th.hold("churn", now, time.Minute)
		th.release("churn")
		_ = i
	}
	if len(th.order) > 2*th.max+1 {
		t.Errorf("heap holds %d entries for %d keys", len(th.order), th.len())
	}
}

func TestEventKeyFields(t *testing.T) {
	ev := &event{KatalogName: "k", CondKey: "c", CRNamespace: "ns", CRName: "n"}
	base := eventKey(ev, "team")
	for _, mod := range []func(e *event){
		func(e *event) { e.KatalogName = "k2" },
		func(e *event) { e.CondKey = "c2" },
		func(e *event) { e.CRNamespace = "ns2" },
		func(e *event) { e.CRName = "n2" },
	} {
		e := *ev
		mod(&e)
		if eventKey(&e, "team") == base {
			t.Errorf("%+v has the key of %+v", e, *ev)
		}
	}
	if eventKey(ev, "other") == base {
		t.Error("the team is not part of the key")
	}
	// Fields do not bleed into each other.
	a := &event{KatalogName: "a", CondKey: "b", CRNamespace: "", CRName: "c"}
	b := &event{KatalogName: "a", CondKey: "b", CRNamespace: "c", CRName: ""}
	if eventKey(a, "t") == eventKey(b, "t") {
		t.Error("namespace and name are ambiguous in the key")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for attempts, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := b.delay(attempts)
			if d < ceil/2 || d > ceil {
				t.Errorf("delay(%d) = %s, want in [%s, %s]", attempts, d, ceil/2, ceil)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("delay(%d) has no jitter", attempts)
		}
	}
}

// 100,000 keys made of maximal fields (every field at its length limit)
// keep a bounded heap: keys are stored as hashes, not as the fields.
func TestThrottleMemoryOfMaximalKeys(t *testing.T) {
	const n = defaultMaxKeys
	long := func(c byte, size int) string { return strings.Repeat(string(c), size) }
	ev := &event{KatalogName: long('k', maxNameBytes), CondKey: long('c', maxKeyBytes),
		CRNamespace: long('n', 63), CRName: long('r', maxNameBytes)}
	team := long('t', maxNameBytes)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	th := newThrottle(n)
	now := time.Unix(0, 0)
	for i := range n {
		e := *ev
		e.CRName = fmt.Sprintf("%08d", i) + ev.CRName[8:]
		th.hold(eventKey(&e, team), now, time.Hour)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if th.len() != n {
		t.Fatalf("%d keys held, want %d", th.len(), n)
	}
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d maximal keys (%d bytes each) hold %.1f MiB of heap (%d bytes a key)", n, len(eventKey(ev, team)), float64(grew)/(1<<20), grew/n)
	if grew > 32<<20 {
		t.Errorf("%d keys hold %.1f MiB; keys must be stored as hashes (bound 32 MiB)", n, float64(grew)/(1<<20))
	}
	runtime.KeepAlive(th)
}
