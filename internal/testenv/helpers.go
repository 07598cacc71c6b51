package testenv

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
)

var namespaces atomic.Int32

// Namespace creates an empty namespace named prefix-N, N counting the
// namespaces made so far by the test binary, so that each test has one of
// its own; it fails t when the API server refuses it.
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, namespaces.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := e.Clientset.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// Clock is a clock a test sets: the code under test reads Now, the test
// moves it with Advance, so expiry and throttling are tested without
// sleeping. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// CounterValue reads c (a registry, or any collector) and returns the
// counter of family name whose label has value; it fails t when there is
// no such series.
func CounterValue(t testing.TB, c metrics.Collector, name, label, value string) float64 {
	t.Helper()
	v, err := metrics.Value(c, name, label, value)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Buffer collects what a process or a logger writes from other goroutines
// while the test reads it. It is safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// SumMetric sums the samples of the metric name (every label set) in text,
// a /metrics page in the Prometheus text format; found is false when it
// has none. A sample that is not a number fails t.
func SumMetric(t testing.TB, text, name string) (sum float64, found bool) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(l)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			sum += v
			found = true
		}
	}
	return sum, found
}
