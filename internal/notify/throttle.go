package notify

import (
	"container/heap"
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// defaultMaxKeys bounds the throttle's memory: keys are kept as 16-byte
// hashes, about 100 bytes each with the map and heap entries, whatever the
// length of the fields they are made of.
const defaultMaxKeys = 100_000

// keyHash is a throttle key as stored: the first 16 bytes of its SHA-256
// (a collision would need 2^64 keys).
type keyHash [16]byte

func hashKey(key string) keyHash {
	sum := sha256.Sum256([]byte(key))
	return keyHash(sum[:16])
}

// throttle holds keys until a time: the event keys (one delivery per key per
// interval) and the idempotency ids. Expired keys are dropped as new ones
// arrive; when full, the key closest to expiry goes first, so a flood of
// distinct keys costs at most an early repeat, never unbounded memory.
type throttle struct {
	mu    sync.Mutex
	until map[keyHash]time.Time
	order expiryHeap
	max   int
}

func newThrottle(max int) *throttle {
	if max <= 0 {
		max = defaultMaxKeys
	}
	return &throttle{until: map[keyHash]time.Time{}, max: max}
}

// held reports until when key is held at now; zero when it is free.
func (t *throttle) held(key string, now time.Time) time.Time {
	k := hashKey(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	if u, ok := t.until[k]; ok && now.Before(u) {
		return u
	}
	return time.Time{}
}

// hold holds key until now+d.
func (t *throttle) hold(key string, now time.Time, d time.Duration) {
	k := hashKey(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	for len(t.until) >= t.max && t.order.Len() > 0 {
		t.drop(heap.Pop(&t.order).(expiry))
	}
	u := now.Add(d)
	t.until[k] = u
	heap.Push(&t.order, expiry{key: k, at: u})
	if t.order.Len() > 2*t.max {
		t.compact()
	}
}

// compact rebuilds the heap from the live keys, dropping the entries that
// release and re-holds left behind.
func (t *throttle) compact() {
	t.order = t.order[:0]
	for k, u := range t.until {
		t.order = append(t.order, expiry{key: k, at: u})
	}
	heap.Init(&t.order)
}

// release frees key at once (a delivery failed: the next event may try).
func (t *throttle) release(key string) {
	k := hashKey(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.until, k)
	// The heap entry stays; drop ignores it once the key is gone or re-held.
}

// expire drops keys whose time has passed.
func (t *throttle) expire(now time.Time) {
	for t.order.Len() > 0 && !now.Before(t.order[0].at) {
		t.drop(heap.Pop(&t.order).(expiry))
	}
}

// drop forgets e.key unless the key was held again since e was pushed.
func (t *throttle) drop(e expiry) {
	if u, ok := t.until[e.key]; ok && u.Equal(e.at) {
		delete(t.until, e.key)
	}
}

func (t *throttle) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.until)
}

type expiry struct {
	key keyHash
	at  time.Time
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// eventKey is the throttle key of an event for one team: (katalogName,
// condKey, team, crNamespace, crName). NUL cannot occur in the fields (they are
// checked for control characters), so the join is unambiguous.
func eventKey(ev *event, team string) string {
	return strings.Join([]string{"event", ev.KatalogName, ev.CondKey, team, ev.CRNamespace, ev.CRName}, "\x00")
}

// idKey is the idempotency key of an event for one team.
func idKey(id, team string) string { return "id\x00" + id + "\x00" + team }
