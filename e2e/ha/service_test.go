package ha

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/orkspace/orkestra-gateway/internal/testenv/service"
)

// Shutdown as the bundle's Deployment has it: the endpoint turns
// terminating, the preStop sleep lets the API server stop choosing it, then
// SIGTERM starts the drain.
const (
	preStop = time.Second
	grace   = 25 * time.Second
	// detect is how long a SIGKILLed replica's endpoint stays before a
	// failed probe removes it.
	detect = time.Second
)

// TestServiceMode: three replicas behind a Service, under continuous
// admission traffic through the API server. A rolling update replaces all
// three without one failed call or one protected object deleted, each
// stopping replica keeping the registrations because another is ready. A
// SIGKILLed replica costs the calls routed to it until its endpoint goes;
// the survivors carry on. One notification per key across the replicas.
// The last replica out removes the registrations.
func TestServiceMode(t *testing.T) {
	ctx := context.Background()
	s := newSuite(t)
	prepareLoad(t)
	report := &service.Report{Replicas: 3}

	var live []*replica
	for range 3 {
		live = append(live, s.start(t))
	}
	// Registered by Service reference: the API server resolves it.
	names, targets := registrations(t)
	if len(names) != 2 {
		t.Fatalf("registered %v, want the deletion-protection and validate configurations", names)
	}
	for _, tg := range targets {
		if !strings.HasPrefix(tg, "service "+gatewayNS+"/"+serviceName+":443/") {
			t.Errorf("a webhook points at %s, want the Service", tg)
		}
	}
	waitActive(t)

	l := startLoad(t, 2, "3 replicas")
	waitServed(t, live...) // Kubernetes spreads the calls over every endpoint
	time.Sleep(2 * time.Second)

	// Rolling update: a new replica, ready and receiving calls, then an
	// old one stops.
	l.mark("rolling update")
	old := live
	live = nil
	for _, o := range old {
		n := s.start(t)
		live = append(live, n)
		waitServed(t, n)
		stopKeeping(t, s, o)
	}
	l.mark("3 new replicas")
	time.Sleep(2 * time.Second)

	// One notification per key, whichever replicas get the event.
	report.Deliveries = notifyOnce(t, s, live)

	// SIGKILL: the calls routed to it fail until its endpoint is removed.
	victim := live[0]
	live = live[1:]
	l.mark(fmt.Sprintf("SIGKILL, endpoint removed after %s (+%s for the API server to see it)", detect, service.ProbePeriod))
	killed, err := s.svc.Kill(victim.Replica, detect)
	if err != nil {
		t.Fatal(err)
	}
	s.stopped(victim)
	// The API server learns of the removal through its EndpointSlice
	// informer; the calls of that instant still belong to the kill.
	time.Sleep(service.ProbePeriod)
	removed := time.Now()
	l.mark("2 survivors")
	before := []int{live[0].served(t), live[1].served(t)}
	time.Sleep(3 * time.Second)
	for i, r := range live {
		if r.served(t) <= before[i] {
			t.Errorf("%s answered no call after the kill", r.Name)
		}
	}
	l.halt()

	// Failures are allowed only for calls in flight at the kill or made
	// before its endpoint was removed (the API server routes them to the
	// dead replica), or later if they name its address (routed before the
	// API server saw the removal). Anything else is a failure of the
	// gateway.
	pn, secs, calls := l.phaseCalls()
	var killFailures []call
	for i, name := range pn {
		f := failed(calls[i])
		report.Phases = append(report.Phases, service.PhaseReport{Name: name, Seconds: math.Round(secs[i]*10) / 10, Calls: len(calls[i]), Failed: len(f)})
		for _, c := range f {
			if (!c.end.Before(killed) && c.start.Before(removed)) || (strings.Contains(c.err, victim.IP+":") && !c.end.Before(killed)) {
				killFailures = append(killFailures, c)
				continue
			}
			t.Errorf("phase %q: %s at %s failed: %s", name, c.op, c.start.Format("15:04:05.000"), c.err)
		}
	}
	byOp := map[string]int{}
	for _, c := range killFailures {
		byOp[c.op]++
		t.Logf("%s after the kill: %s: %s", c.start.Sub(killed).Round(time.Millisecond), c.op, c.err)
	}
	if len(l.deleted) > 0 {
		t.Errorf("%d protected objects deleted: %v", len(l.deleted), l.deleted)
	}
	for i := range guarded {
		if _, err := env.Clientset.CoreV1().ConfigMaps(loadNS).Get(ctx, fmt.Sprintf("guarded-%d", i), metav1.GetOptions{}); err != nil {
			t.Errorf("protected ConfigMap guarded-%d: %v", i, err)
		}
	}

	// Last out: a replica stopping while another is ready keeps the
	// registrations; the last one removes them. Its endpoint still says
	// ready (held), so it must recognise itself by its pod IP.
	stopKeeping(t, s, live[0])
	last := live[1]
	s.svc.HoldEndpoint(last.Replica)
	if code, err := last.Proc.Stop(grace); err != nil || code != 0 {
		t.Fatalf("%s: exit %d, %v\n%s", last.Name, code, err, last.Proc.Logs())
	}
	if err := s.svc.Remove(last.Replica); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(last.Proc.Logs(), "registrations removed") {
		t.Errorf("the last replica did not remove the registrations:\n%s", last.Proc.Logs())
	}
	if names, _ := registrations(t); len(names) != 0 {
		t.Errorf("after the last replica stopped, %v remain registered", names)
	}
	eventually(t, 10*time.Second, "protected objects deletable once the gateway is uninstalled", func() error {
		return env.Clientset.CoreV1().ConfigMaps(loadNS).Delete(ctx, "guarded-0", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
	})

	report.Notes = append(report.Notes, fmt.Sprintf("after the SIGKILL, %d calls failed, all routed to the killed replica before its endpoint was removed: "+
		"%d protected deletes refused with an error (failurePolicy Fail), %d invalid Widgets admitted (failurePolicy Ignore), %d valid creates failed",
		len(killFailures), byOp["delete protected"], byOp["create invalid"], byOp["create valid"]))
	t.Logf("Service-mode report (%d replicas behind Service %s/%s):\n%s", report.Replicas, gatewayNS, serviceName, report.Table())
	if err := report.Write(); err != nil {
		t.Error(err)
	}
}

// waitActive waits until the API server calls both webhooks.
func waitActive(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 30*time.Second, "deletion protection active", func() error {
		err := env.Clientset.CoreV1().ConfigMaps(loadNS).Delete(ctx, "guarded-0", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "denied the request") {
			return nil
		}
		return fmt.Errorf("dry-run delete of a protected ConfigMap: %v", err)
	})
	eventually(t, 30*time.Second, "validation active", func() error {
		w := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "e2e.example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "probe"}, "spec": map[string]any{"replicas": int64(50)},
		}}
		_, err := env.Dynamic.Resource(widgets).Namespace(loadNS).Create(ctx, w, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "replicas must be between 1 and 10") {
			return nil
		}
		return fmt.Errorf("dry-run create of an invalid Widget: %v", err)
	})
}

// waitServed waits until the API server has sent each replica a call: it
// resolves the Service to every ready endpoint.
func waitServed(t *testing.T, rs ...*replica) {
	t.Helper()
	for _, r := range rs {
		eventually(t, 20*time.Second, r.Name+" receiving webhook calls", func() error {
			if n := r.served(t); n == 0 {
				return fmt.Errorf("no admission request yet")
			}
			return nil
		})
	}
}

// stopKeeping terminates r while another replica is ready: it exits
// cleanly and the registrations stay.
func stopKeeping(t *testing.T, s *suite, r *replica) {
	t.Helper()
	served := r.served(t)
	code, err := s.svc.Terminate(r.Replica, preStop, grace)
	if err != nil || code != 0 {
		t.Fatalf("%s: exit %d, %v\n%s", r.Name, code, err, r.Proc.Logs())
	}
	s.stopped(r)
	if !strings.Contains(r.Proc.Logs(), "other ready replicas remain; keeping registrations") {
		t.Errorf("%s did not keep the registrations:\n%s", r.Name, r.Proc.Logs())
	}
	if names, _ := registrations(t); len(names) != 2 {
		t.Errorf("after %s stopped, registered %v; want both configurations kept", r.Name, names)
	}
	t.Logf("%s stopped (it had answered %d webhook calls); registrations kept", r.Name, served)
}

// notifyOnce POSTs one event (one id) to every replica at once, then events
// of one key with distinct ids: one delivery each.
func notifyOnce(t *testing.T, s *suite, rs []*replica) []service.KeyReport {
	t.Helper()
	token, err := env.ServiceAccountTokenFor(context.Background(), gatewayNS, "orkestra-runtime", 0, "orkestra-gateway")
	if err != nil {
		t.Fatal(err)
	}
	c := notifyClient(t)
	ev := func(crName, id, message string) map[string]any {
		return map[string]any{
			"katalogName": katalogName, "crName": crName, "crNamespace": "shop",
			"gvk": "shop.example.com/v1/Store", "condKey": "Ready=False", "teamName": "ops",
			"subject": crName + " is not ready", "message": message, "severity": "warning", "id": id,
		}
	}
	var out []service.KeyReport
	for _, tc := range []struct {
		key    string
		events []map[string]any
	}{
		{"one event (same id) to each replica", []map[string]any{ev("front", "ha-1", "front down"), ev("front", "ha-1", "front down"), ev("front", "ha-1", "front down")}},
		{"one key, a distinct id at each replica", []map[string]any{ev("cart", "ha-2", "cart down"), ev("cart", "ha-3", "cart down"), ev("cart", "ha-4", "cart down")}},
	} {
		st := sameEventEverywhere(t, c, rs, token, tc.events)
		queued := strings.Count(strings.Join(st, " "), "queued")
		if queued != 1 || strings.Count(strings.Join(st, " "), "suppressed") != len(rs)-1 {
			t.Errorf("%s: answers %v, want one queued and the others suppressed", tc.key, st)
		}
		msg := tc.events[0]["message"].(string)
		n := 0
		eventually(t, 10*time.Second, "the delivery of "+msg, func() error {
			n = 0
			for _, r := range s.slack.Delivered() {
				if r.Text == msg {
					n++
				}
			}
			if n < queued {
				return fmt.Errorf("%d of %d deliveries", n, queued)
			}
			return nil
		})
		if n != 1 {
			t.Errorf("%s: %d deliveries, want 1", tc.key, n)
		}
		out = append(out, service.KeyReport{Key: tc.key, Posts: len(tc.events), Replicas: len(rs), Deliveries: n})
	}
	return out
}
