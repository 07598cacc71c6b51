package conversion

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// identityPolicy is the Gadget CRD with a conversion block that declares
// no path, and no crdFile: every conversion changes apiVersion only, and
// loses nothing.
func identityPolicy(t testing.TB) *policy.Policy {
	return &policy.Policy{CRDs: []*policy.CRD{{
		Name: "gadget", Group: gadgetGroup, Kind: "Gadget", Plural: "gadgets", Version: "v2",
		Versions:   versions,
		Conversion: &policy.ConversionSpec{StorageVersion: "v2", Versions: versions},
	}}}
}

// benchReview is a ConversionReview of n realistic objects at version from.
func benchReview(n int, from, desired string) []byte {
	objs := make([]string, n)
	for i := range objs {
		var spec string
		switch from {
		case "v1":
			spec = fmt.Sprintf(`{"size":%d,"image":"registry.example.com/team/app:1.%d","legacyMode":"compat","ports":[80,443,8080],"labels":{"app":"web","team":"payments","tier":"frontend"},"extra":{"notes":"free-form","weights":[1,2,3]}}`, i%10, i)
		default:
			spec = fmt.Sprintf(`{"replicas":%d,"container":{"image":"registry.example.com/team/app:1.%d"},"ports":[80,443,8080],"labels":{"app":"web","team":"payments","tier":"frontend"},"extra":{"notes":"free-form","weights":[1,2,3]}}`, i%10, i)
		}
		objs[i] = fmt.Sprintf(`{"apiVersion":"conv.example.com/%s","kind":"Gadget","metadata":{"name":"gadget-%d","namespace":"bench","uid":"0b7e7a52-0000-4000-8000-%012d","resourceVersion":"%d","generation":1,"creationTimestamp":"2026-01-02T03:04:05Z","labels":{"app":"web"},"annotations":{"example.com/owner":"payments"}},"spec":%s,"status":{"ready":true,"message":"all good"}}`, from, i, i, 1000+i, spec)
	}
	return []byte(reviewBody(gadgetGroup+"/"+desired, objs...))
}

// BenchmarkReview1000 converts a 1,000-object ConversionReview through
// ServeHTTP (decode, convert, encode): mapped paths, a chain through the
// storage version, and the identity as the baseline. Compare ns/op of
// mapped and identity for the cost of the mapping language and lossless
// round trips.
func BenchmarkReview1000(b *testing.B) {
	mapped := newConverter(b, loadPolicy(b, "katalog.yaml"), Options{})
	identity := newConverter(b, identityPolicy(b), Options{})
	for _, bc := range []struct {
		name     string
		c        *Converter
		from, to string
	}{
		{"mapped/v2-v1", mapped, "v2", "v1"},
		{"mapped/v1-v2", mapped, "v1", "v2"},
		{"mapped/v1-v3-chain", mapped, "v1", "v3"},
		{"identity/v2-v1", identity, "v2", "v1"},
	} {
		body := benchReview(1000, bc.from, bc.to)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/convert", strings.NewReader(string(body)))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				bc.c.ServeHTTP(w, r)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"Success"`) {
					b.Fatalf("%d %.300s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "µs/object")
		})
	}
}

// TestBenchmarkRatio converts the same 1,000-object review with mapped
// paths and with the identity, alternating, and reports wall and CPU time
// per review and their ratio (go test -run TestBenchmarkRatio -v). CPU time
// (of the whole process, GC included) is what to compare on a busy
// machine. It reports the ratio and asserts no timing: make bench publishes
// the same comparison through the gateway binary.
func TestBenchmarkRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark")
	}
	mapped := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	identity := newConverter(t, identityPolicy(t), Options{})
	body := benchReview(1000, "v2", "v1")
	once := func(c *Converter) (wall, cpu time.Duration) {
		r := httptest.NewRequest(http.MethodPost, "/convert", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		c0, t0 := cpuTime(t), time.Now()
		c.ServeHTTP(w, r)
		wall, cpu = time.Since(t0), cpuTime(t)-c0
		if w.Code != http.StatusOK {
			t.Fatal(w.Code)
		}
		return wall, cpu
	}
	const rounds = 15
	var mw, mc, iw, ic []time.Duration
	for range rounds {
		w, c := once(mapped)
		mw, mc = append(mw, w), append(mc, c)
		w, c = once(identity)
		iw, ic = append(iw, w), append(ic, c)
	}
	m, id := median(mc), median(ic)
	ratio := float64(m) / float64(id)
	t.Logf("1,000 objects v2 -> v1 (median of %d): mapped %v wall, %v CPU; identity %v wall, %v CPU; CPU ratio %.2f, wall ratio %.2f",
		rounds, median(mw).Round(time.Millisecond), m.Round(time.Millisecond), median(iw).Round(time.Millisecond), id.Round(time.Millisecond),
		ratio, float64(median(mw))/float64(median(iw)))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// cpuTime is the CPU time (user + system) of the process so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
