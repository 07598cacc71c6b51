package dedup

import (
	"encoding/json"
	"math"
	"regexp"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestName(t *testing.T) {
	a := Name("shop", "event\x00shop\x00Ready=False\x00ops\x00web\x00web-1")
	if !regexp.MustCompile(`^orkestra-notify-[0-9a-f]{32}$`).MatchString(a) {
		t.Errorf("name %q", a)
	}
	if errs := validation.IsDNS1123Subdomain(a); len(errs) > 0 {
		t.Errorf("%q is not a valid object name: %v", a, errs)
	}
	for _, other := range []string{Name("other", "event\x00shop\x00Ready=False\x00ops\x00web\x00web-1"), Name("shop", "event\x00shop\x00Ready=False\x00ops\x00web\x00web-2")} {
		if other == a {
			t.Errorf("distinct scope or key, same name %q", a)
		}
	}
	if first, again := Name("shop", "k"), Name("shop", "k"); first != again {
		t.Error("the name is not stable")
	}
}

func TestLeaseSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int32{
		time.Nanosecond:              1,
		time.Second:                  1,
		1500 * time.Millisecond:      2,
		15 * time.Minute:             900,
		time.Duration(math.MaxInt64): math.MaxInt32,
	} {
		if got := leaseSeconds(d); got != want {
			t.Errorf("leaseSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}

func TestExpiry(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	ok := func(spec map[string]any, want time.Time) {
		t.Helper()
		got, valid := leaseExpiry(map[string]any{"spec": spec})
		if !valid || !got.Equal(want) {
			t.Errorf("Expiry(%v) = %v, %v; want %v", spec, got, valid, want)
		}
	}
	bad := func(obj map[string]any) {
		t.Helper()
		if got, valid := leaseExpiry(obj); valid {
			t.Errorf("Expiry(%v) = %v, valid; want invalid", obj, got)
		}
	}
	ok(map[string]any{"renewTime": "2026-03-01T12:00:00.123456Z", "leaseDurationSeconds": int64(60)}, at.Add(time.Minute))
	ok(map[string]any{"acquireTime": "2026-03-01T12:00:00.123456Z", "leaseDurationSeconds": float64(1)}, at.Add(time.Second))
	ok(map[string]any{"renewTime": "2026-03-01T13:00:00.123456+01:00", "acquireTime": "garbage", "leaseDurationSeconds": int64(1)}, at.Add(time.Second))
	bad(map[string]any{})
	bad(map[string]any{"spec": "x"})
	bad(map[string]any{"spec": map[string]any{"renewTime": "2026-03-01T12:00:00Z"}})
	bad(map[string]any{"spec": map[string]any{"renewTime": "2026-03-01T12:00:00Z", "leaseDurationSeconds": int64(0)}})
	bad(map[string]any{"spec": map[string]any{"renewTime": "2026-03-01T12:00:00Z", "leaseDurationSeconds": float64(1.5)}})
	bad(map[string]any{"spec": map[string]any{"renewTime": "2026-03-01T12:00:00Z", "leaseDurationSeconds": int64(math.MaxInt32) + 1}})
	bad(map[string]any{"spec": map[string]any{"renewTime": "yesterday", "leaseDurationSeconds": int64(5)}})
	bad(map[string]any{"spec": map[string]any{"leaseDurationSeconds": int64(5)}})
}

// FuzzExpiry: any JSON object, as another writer may have left a Lease,
// is read without a panic; a valid answer is never before the time it
// starts from.
func FuzzExpiry(f *testing.F) {
	f.Add([]byte(`{"spec":{"renewTime":"2026-03-01T12:00:00.123456Z","leaseDurationSeconds":60}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var obj map[string]any
		if json.Unmarshal(b, &obj) != nil {
			return
		}
		exp, ok := leaseExpiry(obj)
		if !ok {
			if !exp.IsZero() {
				t.Fatalf("invalid but non-zero expiry %v", exp)
			}
			return
		}
		spec := obj["spec"].(map[string]any)
		at, _ := spec["renewTime"].(string)
		if at == "" {
			at, _ = spec["acquireTime"].(string)
		}
		start, err := time.Parse(time.RFC3339Nano, at)
		if err != nil || !exp.After(start) {
			t.Fatalf("expiry %v from %q (%v)", exp, at, err)
		}
	})
}
