package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// idleBudget is the most an idle gateway may hold resident: the image's
// binary (static, stripped; every page of it is resident here) and what
// the process keeps after start-up.
const idleBudget = 20 << 20

// An idle gateway with every listener on (admission, conversion, /notify)
// holds at most 20 MiB resident, measured as `make bench` does: two seconds
// after it is ready, before any load.
func TestIdleMemory(t *testing.T) {
	g := hostileGateway(t)
	time.Sleep(2 * time.Second)
	m := g.memory(t)
	anon, file := statusField(t, g, "RssAnon"), statusField(t, g, "RssFile")
	t.Logf("idle: RSS %s (anonymous %s, file %s), peak %s", mib(m.rss), mib(anon), mib(file), mib(m.peak))
	if m.rss > idleBudget {
		t.Errorf("idle RSS %s exceeds %s", mib(m.rss), mib(idleBudget))
	}
}

// statusField reads a "kB" field of /proc/PID/status, in bytes.
func statusField(t *testing.T, g *gateway, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.proc.PID()))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			var n int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &n); err != nil {
				t.Fatalf("/proc/%d/status: %q: %v", g.proc.PID(), line, err)
			}
			return n << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s", g.proc.PID(), key)
	return 0
}
