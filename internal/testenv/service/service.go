package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// Probe timing, as a kubelet applies periodSeconds, timeoutSeconds and
// failureThreshold (the bundle's readiness probe has a 2 s timeout and
// failureThreshold 2; the period is shorter here so tests run in seconds).
const (
	ProbePeriod      = 200 * time.Millisecond
	probeTimeout     = 2 * time.Second
	failureThreshold = 2
)

// managedBy marks the EndpointSlices this harness writes, as the
// endpoints controller marks its own.
const managedBy = "orkestra-gateway-e2e"

// Port is a Service port: Port on the Service, TargetPort the name of a
// replica port (each replica maps it to its own number).
type Port struct {
	Name       string
	Port       int32
	TargetPort string
}

// Service is a Service without selector and the endpoints controller that
// keeps its EndpointSlices: one slice per replica, since a named target
// port maps to a different number on each.
type Service struct {
	env             *testenv.Env
	Namespace, Name string
	ports           []Port

	wmu      sync.Mutex // serialises EndpointSlice writes: each writes the latest state
	mu       sync.Mutex
	replicas []*Replica
	errs     []error // EndpointSlice writes that failed
	stop     chan struct{}
	done     chan struct{}
}

// Process is what the harness needs of a replica's program;
// *testenv.Process (a program in a pod sandbox) has it.
type Process interface {
	Stop(grace time.Duration) (int, error)
	Signal(syscall.Signal) error
	Done() <-chan struct{}
	Logs() string
}

// Replica is one program behind the Service, as a pod is.
type Replica struct {
	Name  string         // the pod's name (targetRef)
	IP    string         // its address, e.g. Address(i)
	Ports map[string]int // target port name -> number
	// ReadyURL is polled every ProbePeriod: 200 means ready.
	ReadyURL string
	Proc     Process

	// guarded by Service.mu
	ready, terminating, gone bool
	held                     bool // HoldEndpoint: not probed any more
	failures                 int
}

// New creates the Service (and its namespace) and starts the endpoints
// controller; Close stops it.
func New(env *testenv.Env, namespace, name string, ports ...Port) (*Service, error) {
	ctx := context.Background()
	if _, err := env.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: intstr.FromString(p.TargetPort), Protocol: corev1.ProtocolTCP})
	}
	if _, err := env.Clientset.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating Service %s/%s: %w", namespace, name, err)
	}
	s := &Service{env: env, Namespace: namespace, Name: name, ports: ports, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

// Close stops the endpoints controller and deletes the Service and its
// EndpointSlices.
func (s *Service) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	ctx := context.Background()
	err := s.env.Clientset.CoreV1().Services(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		err = nil
	}
	err2 := s.env.Clientset.DiscoveryV1().EndpointSlices(s.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name})
	return errors.Join(err, err2, s.Err())
}

// Err returns the EndpointSlice writes that failed so far.
func (s *Service) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// Add puts r behind the Service, not ready until its probe answers 200.
func (s *Service) Add(r *Replica) error {
	for _, p := range s.ports {
		if r.Ports[p.TargetPort] == 0 {
			return fmt.Errorf("replica %s has no port %q", r.Name, p.TargetPort)
		}
	}
	s.mu.Lock()
	s.replicas = append(s.replicas, r)
	s.mu.Unlock()
	return s.write(r)
}

// snapshot returns the replicas added and not removed.
func (s *Service) snapshot() []*Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Replica
	for _, r := range s.replicas {
		if !r.gone {
			out = append(out, r)
		}
	}
	return out
}

// ready reports whether r's endpoint is written as ready.
func (s *Service) ready(r *Replica) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.ready && !r.terminating && !r.gone
}

// WaitReady waits until r's endpoint is written as ready.
func (s *Service) WaitReady(r *Replica, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !s.ready(r) {
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s not ready in the EndpointSlice after %s", r.Name, timeout)
		}
		select {
		case <-r.Proc.Done():
			return fmt.Errorf("replica %s exited before it was ready:\n%s", r.Name, r.Proc.Logs())
		case <-time.After(ProbePeriod / 4):
		}
	}
	return nil
}

// Terminate stops r as Kubernetes stops a pod of a Deployment: its
// endpoint turns terminating (not ready, so the API server stops choosing
// it), then after preStop (the container's preStop sleep) SIGTERM, up to
// grace for the process to exit, then SIGKILL; once it has exited the
// endpoint is removed. It returns the exit code.
func (s *Service) Terminate(r *Replica, preStop, grace time.Duration) (int, error) {
	s.mu.Lock()
	r.terminating = true
	s.mu.Unlock()
	if err := s.write(r); err != nil {
		return -1, err
	}
	time.Sleep(preStop)
	code, err := r.Proc.Stop(grace)
	if rerr := s.Remove(r); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return code, err
}

// HoldEndpoint stops probing r: its endpoint stays as it is written (ready)
// whatever the process does, as in the moments before a kubelet notices a
// container stopped on its own.
func (s *Service) HoldEndpoint(r *Replica) {
	s.mu.Lock()
	r.held = true
	s.mu.Unlock()
}

// Kill kills r with SIGKILL (a crash, an OOM kill) and removes its endpoint
// after detect, as the kubelet would report it once a probe failed. It
// returns when the endpoint is removed.
func (s *Service) Kill(r *Replica, detect time.Duration) (killed time.Time, err error) {
	if err := r.Proc.Signal(syscall.SIGKILL); err != nil {
		return time.Time{}, err
	}
	killed = time.Now()
	s.mu.Lock()
	r.terminating = true // no probe may mark it ready again meanwhile
	s.mu.Unlock()
	time.Sleep(time.Until(killed.Add(detect)))
	return killed, s.Remove(r)
}

// Remove deletes r's endpoint (its pod is gone).
func (s *Service) Remove(r *Replica) error {
	s.mu.Lock()
	r.gone, r.ready = true, false
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.env.Clientset.DiscoveryV1().EndpointSlices(s.Namespace).Delete(context.Background(), s.sliceName(r), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		err = nil
	}
	return err
}

func (s *Service) sliceName(r *Replica) string { return s.Name + "-" + r.Name }

// write stores r's EndpointSlice as the controller's state says.
func (s *Service) write(r *Replica) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if r.gone {
		s.mu.Unlock()
		return nil
	}
	ready := r.ready && !r.terminating
	serving := r.ready
	terminating := r.terminating
	s.mu.Unlock()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.sliceName(r), Namespace: s.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: s.Name, discoveryv1.LabelManagedBy: managedBy},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{r.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: s.Namespace, Name: r.Name},
		}},
	}
	for _, p := range s.ports {
		name, port, proto := p.Name, int32(r.Ports[p.TargetPort]), corev1.ProtocolTCP
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slices := s.env.Clientset.DiscoveryV1().EndpointSlices(s.Namespace)
	cur, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = cur.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		err = fmt.Errorf("writing EndpointSlice %s/%s: %w", s.Namespace, slice.Name, err)
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
	}
	return err
}

// run probes every live replica each period and writes the endpoints whose
// readiness changed.
func (s *Service) run() {
	defer close(s.done)
	client := &http.Client{Timeout: probeTimeout}
	tick := time.NewTicker(ProbePeriod)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		var wg sync.WaitGroup
		for _, r := range s.snapshot() {
			s.mu.Lock()
			skip := r.terminating || r.held
			s.mu.Unlock()
			if skip {
				continue
			}
			wg.Go(func() { s.probe(client, r) })
		}
		wg.Wait()
	}
}

func (s *Service) probe(client *http.Client, r *Replica) {
	ok := false
	if resp, err := client.Get(r.ReadyURL); err == nil {
		ok = resp.StatusCode == http.StatusOK
		resp.Body.Close()
	}
	s.mu.Lock()
	changed := false
	switch {
	case ok:
		r.failures = 0
		changed = !r.ready
		r.ready = true
	default:
		r.failures++
		changed = r.ready && r.failures >= failureThreshold
		if changed {
			r.ready = false
		}
	}
	// The probe never rewrites the endpoint of a terminating or removed replica.
	changed = changed && !r.terminating && !r.gone
	s.mu.Unlock()
	if changed {
		_ = s.write(r) // recorded in s.errs
	}
}
