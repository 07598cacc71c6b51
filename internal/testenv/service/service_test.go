package service_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
	"github.com/orkspace/orkestra-gateway/internal/testenv/service"
)

var env *testenv.Env

func TestMain(m *testing.M) { service.Main(m, &env, 2) }

// fakePod is a replica served from the test process: /readyz answers what
// the test says, on the replica's own address.
type fakePod struct {
	srv     *http.Server
	status  atomic.Int32
	done    chan struct{}
	onStop  func() // called at SIGTERM, before the pod exits
	signals []syscall.Signal
	mu      sync.Mutex
}

func startPod(t *testing.T, ip string) (*fakePod, int) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listening on %s (the address Main put on lo): %v", ip, err)
	}
	p := &fakePod{done: make(chan struct{})}
	p.status.Store(http.StatusOK)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(p.status.Load()))
		fmt.Fprintln(w, ip)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { p.srv.Close() })
	return p, ln.Addr().(*net.TCPAddr).Port
}

func (p *fakePod) Stop(time.Duration) (int, error) {
	if p.onStop != nil {
		p.onStop()
	}
	p.srv.Close()
	close(p.done)
	return 0, nil
}

func (p *fakePod) Signal(s syscall.Signal) error {
	p.mu.Lock()
	p.signals = append(p.signals, s)
	p.mu.Unlock()
	if s == syscall.SIGKILL {
		p.srv.Close()
	}
	return nil
}

func (p *fakePod) Done() <-chan struct{} { return p.done }
func (p *fakePod) Logs() string          { return "" }

// endpoint reads the replica's EndpointSlice: nil when there is none.
func endpoint(t *testing.T, ns, name string) *discoveryv1.EndpointSlice {
	t.Helper()
	s, err := env.Clientset.DiscoveryV1().EndpointSlices(ns).Get(context.Background(), "svc-"+name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func conditions(s *discoveryv1.EndpointSlice) string {
	if s == nil {
		return "absent"
	}
	c := s.Endpoints[0].Conditions
	return fmt.Sprintf("ready=%v serving=%v terminating=%v", *c.Ready, *c.Serving, *c.Terminating)
}

func waitConditions(t *testing.T, ns, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := conditions(endpoint(t, ns, name))
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint of %s: %s, want %s", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The endpoints controller's life cycle of an endpoint, as the API server
// stores it: not ready until the probe passes, not ready after two failed
// probes and ready again, terminating before the process is stopped,
// removed after; a killed replica's endpoint stays until the detection
// delay passes. The API server accepts the non-loopback addresses. (That it
// routes webhook calls to them is e2e/ha's proof: the services/proxy
// subresource reads the legacy Endpoints, which no controller mirrors here.)
func TestEndpointLifecycle(t *testing.T) {
	ns := "service-harness"
	svc, err := service.New(env, ns, "svc", service.Port{Name: "http", Port: 80, TargetPort: "web"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})

	a, portA := startPod(t, service.Address(0))
	a.status.Store(http.StatusServiceUnavailable)
	ra := &service.Replica{Name: "a", IP: service.Address(0), Ports: map[string]int{"web": portA},
		ReadyURL: fmt.Sprintf("http://%s:%d/readyz", service.Address(0), portA), Proc: a}
	if err := svc.Add(ra); err != nil {
		t.Fatal(err)
	}
	s := endpoint(t, ns, "a")
	if s == nil || s.Labels[discoveryv1.LabelServiceName] != "svc" || s.Endpoints[0].Addresses[0] != service.Address(0) ||
		*s.Ports[0].Name != "http" || int(*s.Ports[0].Port) != portA {
		t.Fatalf("EndpointSlice %+v", s)
	}
	waitConditions(t, ns, "a", "ready=false serving=false terminating=false")
	a.status.Store(http.StatusOK)
	if err := svc.WaitReady(ra, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	waitConditions(t, ns, "a", "ready=true serving=true terminating=false")

	a.status.Store(http.StatusServiceUnavailable)
	waitConditions(t, ns, "a", "ready=false serving=false terminating=false")
	a.status.Store(http.StatusOK)
	waitConditions(t, ns, "a", "ready=true serving=true terminating=false")

	// Terminate: terminating when the process is asked to stop, gone after.
	var atStop string
	a.onStop = func() { atStop = conditions(endpoint(t, ns, "a")) }
	if code, err := svc.Terminate(ra, 0, time.Second); code != 0 || err != nil {
		t.Fatalf("Terminate: %d, %v", code, err)
	}
	if atStop != "ready=false serving=true terminating=true" {
		t.Errorf("at SIGTERM the endpoint was %s, want terminating", atStop)
	}
	if s := endpoint(t, ns, "a"); s != nil {
		t.Errorf("after Terminate: %s", conditions(s))
	}

	// Kill: the endpoint stays ready until detected.
	b, portB := startPod(t, service.Address(1))
	rb := &service.Replica{Name: "b", IP: service.Address(1), Ports: map[string]int{"web": portB},
		ReadyURL: fmt.Sprintf("http://%s:%d/readyz", service.Address(1), portB), Proc: b}
	if err := svc.Add(rb); err != nil {
		t.Fatal(err)
	}
	if err := svc.WaitReady(rb, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	duringC := make(chan string, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		duringC <- conditions(endpoint(t, ns, "b"))
	}()
	killed, err := svc.Kill(rb, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(killed); d < 500*time.Millisecond {
		t.Errorf("Kill returned %s after the kill, before the detection delay", d)
	}
	if during := <-duringC; during != "ready=true serving=true terminating=false" {
		t.Errorf("right after the kill the endpoint was %s, want still ready", during)
	}
	b.mu.Lock()
	signals := b.signals
	b.mu.Unlock()
	if s := endpoint(t, ns, "b"); s != nil || len(signals) != 1 || signals[0] != syscall.SIGKILL {
		t.Errorf("after Kill: %s, signals %v", conditions(s), signals)
	}
	if err := svc.Err(); err != nil {
		t.Errorf("EndpointSlice writes failed: %v", errors.Unwrap(err))
	}
}
