package e2e

// Certificates for identical replicas (docs/certificates.md):
// several sandboxed replicas on distinct ports, fronted by a TCP load
// balancer whose URL is the one registered (gateway.url), as a Service
// fronts the pods of a Deployment; a stream of admission requests through
// the API server to a failurePolicy: Fail webhook; and a sampler checking
// what every replica serves against the caBundles of the cluster.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

const (
	certsStreamNS = "certs-stream"
	streamObject  = "stream-protected"
	cogCRDName    = "cogs.certs.e2e.example.com"
	katalogLabel  = "orkestra.orkspace.io/katalog"
)

var (
	validatingGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
	mutatingGVR   = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}
	crdGVR        = apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
)

// certsCase is one test's Katalog: its name (also the prefix of its Secret)
// and certificate settings, and the replicas' flags.
type certsCase struct {
	name                string
	validFor, threshold string
	args                []string
}

func (c certsCase) secret() string { return c.name + "-tls" }

// fastRotation rotates every 10 s (K18 accepts it: validFor within 1h..10y,
// 0 < threshold < validFor); replicas swap 3 s after they see the new CA
// trusted, ticking every second.
func fastRotation(name string) certsCase {
	return certsCase{name: name, validFor: "2h", threshold: "1h59m50s", args: []string{"--sync-interval", "1s", "--trust-grace", "3s"}}
}

func (c certsCase) katalog(t *testing.T, url string) string {
	return strings.NewReplacer("{{NAME}}", c.name, "{{LB}}", url, "{{VALIDFOR}}", c.validFor,
		"{{THRESHOLD}}", c.threshold, "{{SECRET}}", c.secret()).Replace(readTestdata(t, "certs-katalog.yaml"))
}

func (c certsCase) start(t *testing.T, url string, o gatewayOptions) *gateway {
	t.Helper()
	o.Katalog = c.katalog(t, url)
	o.Files = map[string]string{"crds/cog.yaml": readTestdata(t, "certs-crd.yaml")}
	o.Args = append(slices.Clone(c.args), o.Args...)
	return startGateway(t, o)
}

// prepareCerts gives the test a clean slate: no webhook configuration left
// by an earlier test (a dead gateway's failurePolicy Fail would fail the
// stream), the Cog CRD, the stream's namespace and protected object, no
// Secret of this Katalog. At the end of the test (after the replicas are
// killed: cleanups run last in, first out) it removes this Katalog's
// configurations and Secret, so that later tests are not affected.
func prepareCerts(t *testing.T, c certsCase) {
	t.Helper()
	ctx := context.Background()
	deleteConfigs(t, managedSelector)
	ensureCogCRD(t)
	ensureNamespace(t, certsStreamNS, nil)
	if _, err := env.Clientset.CoreV1().ConfigMaps(certsStreamNS).Create(ctx, configMap(streamObject, protected), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	deleteSecret := func() {
		err := env.Clientset.CoreV1().Secrets(gatewayNamespace).Delete(ctx, c.secret(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting secret %s: %v", c.secret(), err)
		}
	}
	deleteSecret()
	t.Cleanup(func() {
		deleteConfigs(t, katalogLabel+"="+c.name)
		deleteSecret()
	})
}

func deleteConfigs(t *testing.T, selector string) {
	t.Helper()
	ctx := context.Background()
	for _, gvr := range []schema.GroupVersionResource{validatingGVR, mutatingGVR} {
		list, err := env.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range list.Items {
			if err := env.Dynamic.Resource(gvr).Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
	}
}

var cogOnce sync.Once

func ensureCogCRD(t *testing.T) {
	t.Helper()
	cogOnce.Do(func() { applyCRD(t, readTestdata(t, "certs-crd.yaml")) })
}

func secretNamed(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	s, err := env.Clientset.CoreV1().Secrets(gatewayNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("secret %s: %v", name, err)
	}
	return s
}

// caBundle is a caBundle found in the cluster.
type caBundle struct {
	source string
	pem    []byte
}

// managedBundles returns the caBundle of every webhook of the Katalog's
// configurations and of the Cog CRD's conversion webhook.
func managedBundles(ctx context.Context, katalog string) ([]caBundle, error) {
	var out []caBundle
	for _, gvr := range []schema.GroupVersionResource{validatingGVR, mutatingGVR} {
		list, err := env.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: katalogLabel + "=" + katalog})
		if err != nil {
			return nil, err
		}
		for _, u := range list.Items {
			hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
			for _, h := range hooks {
				hm, _ := h.(map[string]any)
				name, _, _ := unstructured.NestedString(hm, "name")
				b, err := decodeBundle(hm, "clientConfig", "caBundle")
				if err != nil {
					return nil, err
				}
				out = append(out, caBundle{u.GetName() + "/" + name, b})
			}
		}
	}
	crd, err := env.Dynamic.Resource(crdGVR).Get(ctx, cogCRDName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	b, err := decodeBundle(crd.Object, "spec", "conversion", "webhook", "clientConfig", "caBundle")
	if err != nil {
		return nil, err
	}
	return append(out, caBundle{"crd " + cogCRDName, b}), nil
}

func decodeBundle(obj map[string]any, fields ...string) ([]byte, error) {
	s, _, _ := unstructured.NestedString(obj, fields...)
	return base64.StdEncoding.DecodeString(s)
}

// served returns the chain a replica serves on its webhook port.
func served(g *gateway) ([]*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", itoa(g.webhookPort)), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates, nil
}

// verifyChain checks a served chain against a caBundle as the API server
// would (URL host 127.0.0.1).
func verifyChain(chain []*x509.Certificate, caBundle []byte, now time.Time) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caBundle) {
		return errors.New("the caBundle holds no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "127.0.0.1", CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func firstCert(t *testing.T, pemData []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countCerts(pemData []byte) int {
	n := 0
	for {
		var b *pem.Block
		if b, pemData = pem.Decode(pemData); b == nil {
			return n
		}
		n++
	}
}

// balancer is a TCP load balancer in front of the replicas, as a Service
// in front of pods: each new connection goes to the next replica whose
// /readyz answered 200 at the last poll (every 100 ms); a replica that
// refuses the connection is skipped. TLS passes through untouched.
type balancer struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []*backend
	next     int
	conns    []net.Conn
}

type backend struct {
	g        *gateway
	ready    atomic.Bool
	dead     atomic.Bool  // killed by the test: not polled any more
	conns    atomic.Int64 // connections forwarded to it
	unready  atomic.Int64 // polls answered "not ready" after it had been ready
	wasReady atomic.Bool
}

func startBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln}
	done := make(chan struct{})
	go b.accept()
	go b.poll(done)
	t.Cleanup(func() {
		close(done)
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
	})
	return b
}

func (b *balancer) url() string { return "https://" + b.ln.Addr().String() }

func (b *balancer) add(g *gateway) *backend {
	be := &backend{g: g}
	b.mu.Lock()
	b.backends = append(b.backends, be)
	b.mu.Unlock()
	return be
}

func (b *balancer) poll(done chan struct{}) {
	c := http.Client{Timeout: time.Second}
	for {
		select {
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		b.mu.Lock()
		bes := slices.Clone(b.backends)
		b.mu.Unlock()
		for _, be := range bes {
			if be.dead.Load() {
				be.ready.Store(false)
				continue
			}
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", be.g.probePort))
			if err != nil {
				// Unreachable: killed (the dial fails at once), or this
				// saturated 2-core machine stalled the probe; a kubelet
				// would also wait for several failures.
				if be.dead.Load() {
					be.ready.Store(false)
				}
				continue
			}
			ok := resp.StatusCode == http.StatusOK
			resp.Body.Close()
			if !ok && be.wasReady.Load() && !be.dead.Load() {
				be.unready.Add(1)
			}
			if ok {
				be.wasReady.Store(true)
			}
			be.ready.Store(ok)
		}
	}
}

func (b *balancer) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.forward(c)
	}
}

func (b *balancer) forward(c net.Conn) {
	b.mu.Lock()
	n := len(b.backends)
	start := b.next
	b.next++
	var order []*backend
	for i := range n {
		if be := b.backends[(start+i)%n]; be.ready.Load() {
			order = append(order, be)
		}
	}
	b.mu.Unlock()
	for _, be := range order {
		u, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", itoa(be.g.webhookPort)), time.Second)
		if err != nil {
			continue
		}
		be.conns.Add(1)
		b.mu.Lock()
		b.conns = append(b.conns, c, u)
		b.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close(); u.Close() }()
		return
	}
	c.Close() // no ready replica: as a Service without ready endpoints
}

// stream sends admission requests through the API server without pause:
// dry-run deletes of a protected ConfigMap, which the deletion-protection
// webhook (failurePolicy Fail) must deny. Any other outcome is a failure.
type stream struct {
	calls    atomic.Int64
	mu       sync.Mutex
	failures []failure
	stop     chan struct{}
	wg       sync.WaitGroup
}

type failure struct {
	at  time.Time
	err string
}

func startStream(t *testing.T, workers int) *stream {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 10000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{stop: make(chan struct{})}
	for range workers {
		s.wg.Go(func() {
			for {
				select {
				case <-s.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err := cs.CoreV1().ConfigMaps(certsStreamNS).Delete(ctx, streamObject, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
				cancel()
				s.calls.Add(1)
				if isForbidden(err) && strings.Contains(err.Error(), "denied the request") {
					// A short pause leaves this 2-core machine some air;
					// the stream stays continuous.
					time.Sleep(5 * time.Millisecond)
					continue
				}
				msg := "the protected delete was allowed"
				if err != nil {
					msg = err.Error()
				}
				s.mu.Lock()
				s.failures = append(s.failures, failure{time.Now(), msg})
				s.mu.Unlock()
			}
		})
	}
	t.Cleanup(s.halt)
	return s
}

func (s *stream) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

func (s *stream) failed() []failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.failures)
}

// waitStreamDenied waits until the API server calls the webhook (the
// configurations propagate asynchronously).
func waitStreamDenied(t *testing.T) {
	t.Helper()
	eventually(t, 20*time.Second, "deletion protection active for the stream", func() error {
		err := env.Clientset.CoreV1().ConfigMaps(certsStreamNS).Delete(context.Background(), streamObject, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if isForbidden(err) && strings.Contains(err.Error(), "denied the request") {
			return nil
		}
		return fmt.Errorf("dry-run delete: %v", err)
	})
}

// sampler checks, as often as it can (aiming at every 100 ms), that every
// live replica serves a certificate that verifies against every caBundle of
// the Katalog as read just before, and records the Secret's rotations.
type sampler struct {
	katalog, secret string
	replicas        func() []*backend

	mu         sync.Mutex
	samples    int
	violations []string
	intervals  []time.Duration
	cas        []string        // distinct current CAs of the Secret, in order
	leafs      map[string]bool // every tls.crt the Secret held
	servedBy   map[*gateway]map[string]bool
	maxCAs     int // most certificates seen in ca.crt
	// Handshakes that failed (a stall of this machine, not a certificate
	// problem): reported, and only too many of them fail the test.
	unreachable []string
	stop, done  chan struct{}
}

func startSampler(t *testing.T, katalog, secret string, replicas func() []*backend) *sampler {
	s := &sampler{katalog: katalog, secret: secret, replicas: replicas, leafs: map[string]bool{},
		servedBy: map[*gateway]map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	t.Cleanup(s.halt)
	return s
}

func (s *sampler) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *sampler) run() {
	defer close(s.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.sample()
		now := time.Now()
		s.mu.Lock()
		if !last.IsZero() {
			s.intervals = append(s.intervals, now.Sub(last))
		}
		s.mu.Unlock()
		last = now
	}
}

func (s *sampler) violate(format string, args ...any) {
	s.violations = append(s.violations, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

func (s *sampler) sample() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var (
		sec     *corev1.Secret
		err     error
		bundles []caBundle
		berr    error
		reads   sync.WaitGroup
	)
	reads.Go(func() {
		sec, err = env.Clientset.CoreV1().Secrets(gatewayNamespace).Get(ctx, s.secret, metav1.GetOptions{})
	})
	reads.Go(func() { bundles, berr = managedBundles(ctx, s.katalog) })
	reads.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if b, _ := pem.Decode(sec.Data["ca.crt"]); b != nil {
			if ca := string(b.Bytes); len(s.cas) == 0 || s.cas[len(s.cas)-1] != ca {
				s.cas = append(s.cas, ca)
			}
		}
		s.leafs[string(sec.Data["tls.crt"])] = true
		s.maxCAs = max(s.maxCAs, countCerts(sec.Data["ca.crt"]))
	}
	if berr != nil {
		s.violate("reading the caBundles: %v", berr)
		return
	}
	// Handshakes in parallel: one sample is one instant for every replica.
	bes := s.replicas()
	chains := make([][]*x509.Certificate, len(bes))
	errs := make([]error, len(bes))
	var wg sync.WaitGroup
	for i, be := range bes {
		wg.Go(func() { chains[i], errs[i] = served(be.g) })
	}
	wg.Wait()
	now := time.Now()
	for i, be := range bes {
		chain, err := chains[i], errs[i]
		if be.dead.Load() {
			continue // killed meanwhile
		}
		if err != nil {
			s.unreachable = append(s.unreachable, fmt.Sprintf("replica :%d: %v", be.g.webhookPort, err))
			continue
		}
		if s.servedBy[be.g] == nil {
			s.servedBy[be.g] = map[string]bool{}
		}
		s.servedBy[be.g][string(chain[0].Raw)] = true
		for _, b := range bundles {
			if err := verifyChain(chain, b.pem, now); err != nil {
				s.violate("replica :%d serves %s (issuer %s), which the caBundle of %s does not trust: %v",
					be.g.webhookPort, chain[0].SerialNumber, chain[0].Issuer.CommonName, b.source, err)
			}
		}
	}
	s.samples++
}

// rotations is the number of times the Secret's signing CA changed while
// sampled.
func (s *sampler) rotations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(len(s.cas)-1, 0)
}

// report logs what the sampler saw and fails on violations; with cadence,
// also when it did not sample every 200 ms.
func (s *sampler) report(t *testing.T, cadence bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	iv := slices.Clone(s.intervals)
	sort.Slice(iv, func(i, j int) bool { return iv[i] < iv[j] })
	var p50, p99, worst time.Duration
	if len(iv) > 0 {
		p50, p99, worst = iv[len(iv)/2], iv[len(iv)*99/100], iv[len(iv)-1]
	}
	t.Logf("sampler: %d samples, interval p50 %s p99 %s max %s; %d rotations; at most %d CAs in ca.crt",
		s.samples, p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond), max(len(s.cas)-1, 0), s.maxCAs)
	for i, v := range s.violations {
		if i == 20 {
			t.Errorf("... %d more violations", len(s.violations)-20)
			break
		}
		t.Errorf("violation: %s", v)
	}
	if len(s.unreachable) > 0 {
		t.Logf("%d handshakes failed, e.g. %s", len(s.unreachable), s.unreachable[0])
	}
	if len(s.unreachable)*20 > s.samples { // more than 5%: a replica is down, not a stall
		t.Errorf("%d of %d samples could not reach a replica", len(s.unreachable), s.samples)
	}
	// The sampler aims at one sample every 100 ms; how often it really ran
	// is reported, not asserted: a stall of this shared 2-core machine is
	// no certificate problem, and tests carry no timing thresholds.
	if cadence && len(iv) > 0 {
		t.Logf("sampler cadence: p95 interval %s (target 100 ms)", iv[len(iv)*95/100].Round(time.Millisecond))
	}
}

// metric reads one sample of a replica's /metrics (sums the label sets).
func metric(t *testing.T, g *gateway, name string) float64 {
	t.Helper()
	code, body := g.probe("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	sum, found := testenv.SumMetric(t, body, name)
	if !found {
		t.Fatalf("no metric %s in /metrics", name)
	}
	return sum
}

// startReplicas starts n replicas behind b, one after the other, each
// added to the balancer once ready.
func startReplicas(t *testing.T, c certsCase, b *balancer, n int) []*backend {
	t.Helper()
	var bes []*backend
	for range n {
		bes = append(bes, b.add(c.start(t, b.url(), gatewayOptions{})))
	}
	return bes
}

func live(bes *[]*backend, mu *sync.Mutex) func() []*backend {
	return func() []*backend {
		mu.Lock()
		defer mu.Unlock()
		var out []*backend
		for _, be := range *bes {
			if !be.dead.Load() {
				out = append(out, be)
			}
		}
		return out
	}
}

// waitServingSecret waits until every replica serves the Secret's current
// certificate.
func waitServingSecret(t *testing.T, secret string, bes []*backend, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every replica serving the Secret's certificate", func() error {
		want := firstCert(t, secretNamed(t, secret).Data["tls.crt"])
		for _, be := range bes {
			if be.dead.Load() {
				continue
			}
			chain, err := served(be.g)
			if err != nil {
				return err
			}
			if !chain[0].Equal(want) {
				return fmt.Errorf("replica :%d serves serial %s, the Secret holds %s", be.g.webhookPort, chain[0].SerialNumber, want.SerialNumber)
			}
		}
		return nil
	})
}

// gate is a TCP proxy to the API server that holds every connection until
// opened: replicas started one after the other all reach the API server at
// the same instant.
type gate struct {
	ln       net.Listener
	open     chan struct{}
	accepted atomic.Int32
}

func startGate(t *testing.T) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, open: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.accepted.Add(1)
			go func() {
				<-g.open
				u, err := net.Dial("tcp", net.JoinHostPort(env.Host, itoa(env.Port)))
				if err != nil {
					c.Close()
					return
				}
				mu.Lock()
				conns = append(conns, c, u)
				mu.Unlock()
				go func() { _, _ = io.Copy(u, c); u.Close() }()
				go func() { _, _ = io.Copy(c, u); c.Close() }()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return g
}

func (g *gate) port() int { return g.ln.Addr().(*net.TCPAddr).Port }

// TestCertStartupRace: three replicas reach an empty cluster at the same
// instant. One creates the Secret, the others adopt it; none crashes, all
// serve the certificate the Secret holds, trusted by every caBundle.
func TestCertStartupRace(t *testing.T) {
	c := certsCase{name: "certs-startup", validFor: "1y", threshold: "30d", args: []string{"--sync-interval", "1s", "--trust-grace", "3s"}}
	prepareCerts(t, c)
	gt := startGate(t)
	b := startBalancer(t)
	var gs []*gateway
	for range 3 {
		gs = append(gs, c.start(t, b.url(), gatewayOptions{NoWait: true, APIServerPort: gt.port()}))
	}
	// Each replica reads the Katalog and then blocks on its first API call
	// (the Secret), inside the gate.
	eventually(t, 20*time.Second, "all replicas waiting at the gate", func() error {
		if n := gt.accepted.Load(); n < 3 {
			return fmt.Errorf("%d connections at the gate", n)
		}
		return nil
	})
	close(gt.open)
	for _, g := range gs {
		if err := g.waitReady(30 * time.Second); err != nil {
			t.Fatalf("replica :%d: %v\n%s", g.webhookPort, err, g.proc.Logs())
		}
		b.add(g)
	}

	sec := secretNamed(t, c.secret())
	want := firstCert(t, sec.Data["tls.crt"])
	creators := 0
	for _, g := range gs {
		if exited(g.proc) {
			t.Errorf("replica :%d exited:\n%s", g.webhookPort, g.proc.Logs())
		}
		for _, l := range strings.Split(g.proc.Logs(), "\n") {
			if strings.Contains(l, `"msg":"wrote the TLS secret"`) && strings.Contains(l, `"action":"creating"`) {
				creators++
			}
		}
		chain, err := served(g)
		if err != nil {
			t.Fatal(err)
		}
		if !chain[0].Equal(want) {
			t.Errorf("replica :%d serves serial %s, not the Secret's %s", g.webhookPort, chain[0].SerialNumber, want.SerialNumber)
		}
	}
	if creators != 1 {
		t.Errorf("%d replicas created the Secret, want exactly 1", creators)
	}
	bundles, err := managedBundles(context.Background(), c.name)
	if err != nil {
		t.Fatal(err)
	}
	if len(bundles) < 3 {
		t.Fatalf("%d caBundles, want the deletion-protection and namespace-protection webhooks and the CRD", len(bundles))
	}
	for _, bd := range bundles {
		if !bytes.Equal(bd.pem, sec.Data["ca.crt"]) {
			t.Errorf("the caBundle of %s is not the Secret's ca.crt", bd.source)
		}
		for _, g := range gs {
			chain, _ := served(g)
			if err := verifyChain(chain, bd.pem, time.Now()); err != nil {
				t.Errorf("replica :%d: the caBundle of %s does not trust what it serves: %v", g.webhookPort, bd.source, err)
			}
		}
	}
	// Through the balancer, the API server calls them.
	waitStreamDenied(t)
}

// TestCertRotation: certificates rotate every 10 s under a continuous
// stream of admission requests to a failurePolicy: Fail webhook, served by
// three replicas. No request may fail, and every replica must always serve
// a certificate the current caBundles trust.
func TestCertRotation(t *testing.T) {
	const wantRotations = 5
	c := fastRotation("certs-rotate")
	prepareCerts(t, c)
	b := startBalancer(t)
	bes := startReplicas(t, c, b, 3)
	waitStreamDenied(t)

	key := secretNamed(t, c.secret()).Data["conversion.key"]
	if len(key) != 32 {
		t.Fatalf("the Secret's conversion.key has %d bytes, want 32", len(key))
	}
	st := startStream(t, 2)
	var mu sync.Mutex
	smp := startSampler(t, c.name, c.secret(), live(&bes, &mu))
	start := time.Now()
	eventually(t, 3*time.Minute, fmt.Sprintf("%d rotations", wantRotations), func() error {
		if n := smp.rotations(); n < wantRotations {
			return fmt.Errorf("%d rotations", n)
		}
		return nil
	})
	// The last rotation completes: every replica serves it.
	waitServingSecret(t, c.secret(), bes, 15*time.Second)
	smp.halt()
	st.halt()
	elapsed := time.Since(start)

	rotations := smp.rotations()
	failures := st.failed()
	t.Logf("%d rotations in %s; %d admission calls through the API server, %d failed", rotations, elapsed.Round(time.Second), st.calls.Load(), len(failures))
	for i, f := range failures {
		if i == 10 {
			break
		}
		t.Errorf("admission call failed at %s: %s", f.at.Format("15:04:05.000"), f.err)
	}
	smp.report(t, true)
	if smp.maxCAs > 3 {
		t.Errorf("ca.crt grew to %d CAs: superseded CAs are not dropped once every replica has swapped", smp.maxCAs)
	}

	var written, swaps, conflicts, patches float64
	for _, be := range bes {
		n := len(smp.servedBy[be.g])
		t.Logf("replica :%d served %d certificates; %d connections through the balancer; rotations written %v, swaps %v, conflicts %v, caBundle patches %v",
			be.g.webhookPort, n, be.conns.Load(),
			metric(t, be.g, "orkestra_gateway_certificate_rotations_total"), metric(t, be.g, "orkestra_gateway_certificate_swaps_total"),
			metric(t, be.g, "orkestra_gateway_certificate_secret_conflicts_total"), metric(t, be.g, "orkestra_gateway_cabundle_patches_total"))
		if n < rotations {
			t.Errorf("replica :%d served %d distinct certificates over %d rotations: it did not swap to each", be.g.webhookPort, n, rotations)
		}
		if be.conns.Load() == 0 {
			t.Errorf("replica :%d received no connection", be.g.webhookPort)
		}
		if u := be.unready.Load(); u > 0 {
			t.Errorf("replica :%d was not ready at %d polls", be.g.webhookPort, u)
		}
		written += metric(t, be.g, "orkestra_gateway_certificate_rotations_total")
		swaps += metric(t, be.g, "orkestra_gateway_certificate_swaps_total")
		conflicts += metric(t, be.g, "orkestra_gateway_certificate_secret_conflicts_total")
		patches += metric(t, be.g, "orkestra_gateway_cabundle_patches_total")
		if exp := metric(t, be.g, "orkestra_gateway_certificate_expiry_timestamp_seconds"); int64(exp) != firstCert(t, secretNamed(t, c.secret()).Data["tls.crt"]).NotAfter.Unix() {
			t.Errorf("replica :%d exports expiry %v, not that of the certificate it serves", be.g.webhookPort, exp)
		}
	}
	// Rotations after the sampler stopped may add a few.
	if int(written) < rotations || swaps < float64(3*rotations) || patches < float64(rotations) {
		t.Errorf("metrics: %v rotations written (want >= %d), %v swaps (want >= %d), %v caBundle patches (want >= %d)",
			written, rotations, swaps, 3*rotations, patches, rotations)
	}
	t.Logf("all replicas: %v rotations written, %v swaps, %v Secret conflicts, %v caBundle patches", written, swaps, conflicts, patches)
	// Rotations renew the certificates, never the conversion key: what it
	// authenticated keeps verifying.
	if !bytes.Equal(secretNamed(t, c.secret()).Data["conversion.key"], key) {
		t.Errorf("the conversion key changed over %d rotations", rotations)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d admission calls failed", len(failures), st.calls.Load())
	}
}

// rotationWriter returns the replica whose log says it wrote the rotation
// stored at resourceVersion rv.
func rotationWriter(bes []*backend, rv string) *backend {
	for _, be := range bes {
		logs := be.g.proc.Logs()
		i := strings.LastIndex(logs, `"resourceVersion":"`+rv+`"`)
		if i < 0 {
			continue
		}
		start := strings.LastIndexByte(logs[:i], '\n') + 1
		end := strings.IndexByte(logs[i:], '\n')
		if end < 0 {
			end = len(logs) - i
		}
		if l := logs[start : i+end]; strings.Contains(l, `"msg":"wrote the TLS secret"`) && strings.Contains(l, `"action":"rotated"`) {
			return be
		}
	}
	return nil
}

// TestCertRotationKill: the replica that wrote a rotation is killed
// (SIGKILL) before the others swapped; they complete it, and a new replica
// joins cleanly. Admission calls may fail only while in flight on the
// killed replica.
func TestCertRotationKill(t *testing.T) {
	ctx := context.Background()
	c := fastRotation("certs-kill")
	prepareCerts(t, c)
	b := startBalancer(t)
	var mu sync.Mutex
	bes := startReplicas(t, c, b, 3)
	waitStreamDenied(t)
	st := startStream(t, 2)
	smp := startSampler(t, c.name, c.secret(), live(&bes, &mu))

	// Catch the next rotation as soon as it is stored, and kill its writer.
	before := secretNamed(t, c.secret())
	var (
		victim  *backend
		rotated *corev1.Secret
		killed  time.Time
	)
	deadline := time.Now().Add(30 * time.Second)
	for victim == nil {
		if time.Now().After(deadline) {
			t.Fatal("no rotation within 30 s")
		}
		s, err := env.Clientset.CoreV1().Secrets(gatewayNamespace).Get(ctx, c.secret(), metav1.GetOptions{})
		if err != nil || bytes.Equal(s.Data["ca.key"], before.Data["ca.key"]) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		seen := time.Now()
		// The writer logs right after its write returns.
		for i := 0; i < 100 && victim == nil; i++ {
			if victim = rotationWriter(bes, s.ResourceVersion); victim == nil {
				time.Sleep(2 * time.Millisecond)
			}
		}
		if victim == nil {
			t.Fatalf("no replica logged the rotation at resourceVersion %s", s.ResourceVersion)
		}
		victim.dead.Store(true)
		victim.g.proc.Kill()
		killed, rotated = time.Now(), s
		t.Logf("killed replica :%d %s after the rotation (resourceVersion %s) was seen in the Secret",
			victim.g.webhookPort, killed.Sub(seen).Round(time.Millisecond), s.ResourceVersion)
	}
	newCA := firstCert(t, rotated.Data["ca.crt"])
	var mid []string
	for _, be := range bes {
		if be == victim {
			continue
		}
		chain, err := served(be.g)
		if err != nil {
			t.Fatal(err)
		}
		if chain[0].CheckSignatureFrom(newCA) != nil {
			mid = append(mid, itoa(be.g.webhookPort))
		}
	}
	t.Logf("replicas %v still served the previous certificate: the rotation was in progress", mid)
	if len(mid) == 0 {
		t.Errorf("every other replica already served the new certificate: the kill was not in the middle of the rotation")
	}

	// The others complete it: every caBundle gets the new CA, they swap.
	eventually(t, 5*time.Second, "the new CA in every caBundle", func() error {
		bundles, err := managedBundles(ctx, c.name)
		if err != nil {
			return err
		}
		for _, bd := range bundles {
			if !bytes.Contains(bd.pem, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newCA.Raw})) {
				return fmt.Errorf("the caBundle of %s lacks the new CA", bd.source)
			}
		}
		return nil
	})
	eventually(t, 10*time.Second, "the other replicas serving the rotated certificate (or a later one)", func() error {
		for _, be := range bes {
			if be == victim {
				continue
			}
			chain, err := served(be.g)
			if err != nil {
				return err
			}
			if chain[0].NotBefore.Before(firstCert(t, rotated.Data["tls.crt"]).NotBefore) {
				return fmt.Errorf("replica :%d still serves serial %s", be.g.webhookPort, chain[0].SerialNumber)
			}
		}
		return nil
	})

	// A new replica joins while rotations go on.
	joined := b.add(c.start(t, b.url(), gatewayOptions{}))
	mu.Lock()
	bes = append(bes, joined)
	mu.Unlock()
	// The joined replica must swap at a rotation that happens after it
	// started: wait until the sampler saw it serve a second certificate.
	eventually(t, 60*time.Second, "the joined replica swaps after a rotation", func() error {
		smp.mu.Lock()
		n := len(smp.servedBy[joined.g])
		smp.mu.Unlock()
		if n < 2 {
			return fmt.Errorf("served %d certificates so far", n)
		}
		return nil
	})
	waitServingSecret(t, c.secret(), live(&bes, &mu)(), 15*time.Second)
	smp.halt()
	st.halt()

	failures := st.failed()
	t.Logf("%d rotations, %d admission calls, %d failed", smp.rotations(), st.calls.Load(), len(failures))
	for _, f := range failures {
		// In flight on the killed replica: right after the kill.
		if f.at.Before(killed.Add(-time.Second)) || f.at.After(killed.Add(2*time.Second)) {
			t.Errorf("admission call failed at %s (kill at %s): %s", f.at.Format("15:04:05.000"), killed.Format("15:04:05.000"), f.err)
		} else {
			t.Logf("in flight on the killed replica: %s", f.err)
		}
	}
	smp.report(t, false) // a replica starting makes this 2-core machine stall
	if n := len(smp.servedBy[joined.g]); n < 2 {
		t.Errorf("the joined replica served %d certificates: it did not swap after the next rotation", n)
	}
	for _, be := range live(&bes, &mu)() {
		if exited(be.g.proc) {
			t.Errorf("replica :%d exited:\n%s", be.g.webhookPort, be.g.proc.Logs())
		}
	}
}

// TestCertRepair: what others break, the next tick restores, while
// admission calls go on: the Secret deleted (re-created from the replicas'
// material, so served certificates stay valid), the Secret corrupted, the
// caBundle of a configuration wiped, the CRD's conversion caBundle edited.
func TestCertRepair(t *testing.T) {
	ctx := context.Background()
	c := certsCase{name: "certs-repair", validFor: "1y", threshold: "30d", args: []string{"--sync-interval", "1s", "--trust-grace", "3s"}}
	prepareCerts(t, c)
	b := startBalancer(t)
	bes := startReplicas(t, c, b, 2)
	waitStreamDenied(t)
	orig := secretNamed(t, c.secret())
	st := startStream(t, 2)
	secrets := env.Clientset.CoreV1().Secrets(gatewayNamespace)

	// repaired waits for check to pass and returns how long it took.
	repaired := func(what string, check func() error) time.Duration {
		t.Helper()
		start := time.Now()
		eventually(t, 10*time.Second, what, check)
		d := time.Since(start)
		t.Logf("%s: repaired in %s", what, d.Round(time.Millisecond))
		if d > 2*time.Second {
			t.Errorf("%s took %s to repair, more than a tick (1s) and its API calls", what, d)
		}
		return d
	}
	sameSecret := func() error {
		s, err := secrets.Get(ctx, c.secret(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt", "ca.key", "conversion.key"} {
			if !bytes.Equal(s.Data[k], orig.Data[k]) {
				return fmt.Errorf("%s differs from the original", k)
			}
		}
		return nil
	}

	t.Run("secret deleted", func(t *testing.T) {
		// The Secret is protected by its label: lift it first, as an
		// administrator would.
		var uid string
		for {
			s := secretNamed(t, c.secret())
			uid = string(s.UID)
			delete(s.Labels, protectionLabel)
			if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			err := secrets.Delete(ctx, c.secret(), metav1.DeleteOptions{})
			if err == nil {
				break
			}
			if !isForbidden(err) { // a tick restored the label in between: again
				t.Fatal(err)
			}
		}
		repaired("secret re-created", func() error {
			s, err := secrets.Get(ctx, c.secret(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			if string(s.UID) == uid {
				return errors.New("not deleted yet")
			}
			return sameSecret()
		})
	})

	t.Run("secret corrupted", func(t *testing.T) {
		s := secretNamed(t, c.secret())
		s.Data["tls.key"] = []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		repaired("secret repaired", sameSecret)
	})

	hasOwnCA := func(gvr schema.GroupVersionResource, name string, fields ...string) func() error {
		return func() error {
			u, err := env.Dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			var got []byte
			if len(fields) == 0 {
				hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
				for _, h := range hooks {
					if got, err = decodeBundle(h.(map[string]any), "clientConfig", "caBundle"); err != nil || !bytes.Equal(got, orig.Data["ca.crt"]) {
						return fmt.Errorf("caBundle %d bytes, want the Secret's ca.crt", len(got))
					}
				}
				return nil
			}
			if got, err = decodeBundle(u.Object, fields...); err != nil || !bytes.Equal(got, orig.Data["ca.crt"]) {
				return fmt.Errorf("caBundle %d bytes, want the Secret's ca.crt", len(got))
			}
			return nil
		}
	}
	wipe := func(t *testing.T, name string) {
		u, err := env.Dynamic.Resource(validatingGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
		for _, h := range hooks {
			unstructured.RemoveNestedField(h.(map[string]any), "clientConfig", "caBundle")
		}
		if err := unstructured.SetNestedSlice(u.Object, hooks, "webhooks"); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Dynamic.Resource(validatingGVR).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("caBundle wiped", func(t *testing.T) {
		// The namespace-protection configuration: the stream does not go
		// through it, so its calls must all succeed meanwhile.
		name := "orkestra-gateway-" + c.name + "-namespace-protection"
		wipe(t, name)
		repaired("caBundle of "+name+" restored", hasOwnCA(validatingGVR, name))
	})

	t.Run("CRD conversion caBundle edited", func(t *testing.T) {
		other, err := certs.Generate([]string{"x"}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		u, err := env.Dynamic.Resource(crdGVR).Get(ctx, cogCRDName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextv1.CustomResourceDefinition
		if err := fromUnstructured(u.Object, &crd); err != nil {
			t.Fatal(err)
		}
		crd.Spec.Conversion.Webhook.ClientConfig.CABundle = other.CABundle
		obj, err := toUnstructured(&crd)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Dynamic.Resource(crdGVR).Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		repaired("conversion caBundle of "+cogCRDName+" restored", hasOwnCA(crdGVR, cogCRDName, "spec", "conversion", "webhook", "clientConfig", "caBundle"))
	})

	st.halt()
	failures := st.failed()
	t.Logf("%d admission calls during the repairs, %d failed", st.calls.Load(), len(failures))
	for i, f := range failures {
		if i == 10 {
			break
		}
		t.Errorf("admission call failed at %s: %s", f.at.Format("15:04:05.000"), f.err)
	}
	for _, be := range bes {
		if u := be.unready.Load(); u > 0 {
			t.Errorf("replica :%d was not ready at %d polls", be.g.webhookPort, u)
		}
		chain, err := served(be.g)
		if err != nil || !bytes.Equal(chain[0].Raw, firstCert(t, orig.Data["tls.crt"]).Raw) {
			t.Errorf("replica :%d changed certificate (%v)", be.g.webhookPort, err)
		}
		for _, m := range []string{"orkestra_gateway_certificate_secret_writes_total", "orkestra_gateway_cabundle_patches_total"} {
			t.Logf("replica :%d %s %v", be.g.webhookPort, m, metric(t, be.g, m))
		}
	}

	// The configuration the calls go through: while its caBundle is empty
	// the API server cannot verify the gateway, and calls fail closed until
	// the tick restores it. Measured, not avoidable.
	t.Run("caBundle of the called configuration wiped", func(t *testing.T) {
		st := startStream(t, 2)
		time.Sleep(500 * time.Millisecond)
		name := "orkestra-gateway-" + c.name + "-deletion-protection"
		wiped := time.Now()
		wipe(t, name)
		d := repaired("caBundle of "+name+" restored", hasOwnCA(validatingGVR, name))
		waitStreamDenied(t)
		time.Sleep(2 * time.Second)
		st.halt()
		failures := st.failed()
		t.Logf("%d calls, %d failed while the caBundle was wiped (%s until restored)", st.calls.Load(), len(failures), d.Round(time.Millisecond))
		for _, f := range failures {
			if f.at.After(wiped.Add(d + time.Second)) {
				t.Errorf("admission call failed at %s, after the caBundle was restored: %s", f.at.Format("15:04:05.000"), f.err)
			}
		}
	})

	// An administrator asks for a rotation (docs/certificates.md): the
	// next tick rotates, every replica swaps, no call fails.
	t.Run("rotation by hand", func(t *testing.T) {
		waitStreamDenied(t)
		st := startStream(t, 2)
		s := secretNamed(t, c.secret())
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[certs.RotateAnnotation] = "e2e"
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		repaired("rotation by hand written", func() error {
			s, err := secrets.Get(ctx, c.secret(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			if _, ok := s.Annotations[certs.RotateAnnotation]; ok || bytes.Equal(s.Data["ca.key"], orig.Data["ca.key"]) {
				return errors.New("not rotated yet")
			}
			if n := countCerts(s.Data["ca.crt"]); n != 2 {
				return fmt.Errorf("ca.crt holds %d CAs, want the new one and the old one", n)
			}
			if !bytes.Equal(s.Data["conversion.key"], orig.Data["conversion.key"]) || len(orig.Data["conversion.key"]) != 32 {
				return errors.New("the rotation changed the conversion key")
			}
			return nil
		})
		waitServingSecret(t, c.secret(), bes, 10*time.Second)
		st.halt()
		failures := st.failed()
		t.Logf("%d calls during the rotation by hand, %d failed", st.calls.Load(), len(failures))
		for _, f := range failures {
			t.Errorf("admission call failed at %s: %s", f.at.Format("15:04:05.000"), f.err)
		}
	})
}

// TestCertExternalFiles: TLS_CERT_FILE/TLS_KEY_FILE are served and reloaded
// when the files change (a mounted Secret updated by the kubelet), without
// a restart; the caBundle is the user's and the gateway never writes it;
// readiness follows whether the caBundles trust what is served.
func TestCertExternalFiles(t *testing.T) {
	ctx := context.Background()
	c := certsCase{name: "certs-external", validFor: "1y", threshold: "30d", args: []string{"--sync-interval", "1s", "--trust-grace", "3s"}}
	prepareCerts(t, c)
	hosts := []string{"127.0.0.1"}
	first, err := certs.Generate(hosts, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const dir = "/run/secrets/orkestra/tls/"
	g := c.start(t, "https://127.0.0.1:1", gatewayOptions{ // the URL is not called here
		NoWait: true,
		// The Katalog converts the Cog CRD: the conversion key is the user's too.
		Env:      []string{"TLS_CERT_FILE=" + dir + "tls.crt", "TLS_KEY_FILE=" + dir + "tls.key", "CONVERSION_KEY_FILE=" + dir + "conversion.key"},
		PodFiles: map[string][]byte{dir + "tls.crt": first.CertPEM, dir + "tls.key": first.KeyPEM, dir + "conversion.key": bytes.Repeat([]byte("k"), 32)},
	})
	name := "orkestra-gateway-" + c.name + "-deletion-protection"
	eventually(t, 30*time.Second, "configuration registered", func() error {
		_, err := env.Dynamic.Resource(validatingGVR).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	// Registered without caBundle (the user's to set): not ready, and why.
	time.Sleep(1500 * time.Millisecond)
	// /readyz names the condition; why is in the log.
	if code, body := g.probe("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "certificate trust not confirmed") ||
		!strings.Contains(g.proc.Logs(), "does not trust the served certificate") {
		t.Fatalf("/readyz before the user set the caBundle: %d %s\n%s", code, body, g.proc.Logs())
	}

	// The user sets the caBundles: the configurations' and the CRD's.
	setBundles := func(ca []byte) {
		t.Helper()
		for _, gvr := range []schema.GroupVersionResource{validatingGVR} {
			list, err := env.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: katalogLabel + "=" + c.name})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range list.Items {
				hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
				for _, h := range hooks {
					_ = unstructured.SetNestedField(h.(map[string]any), encodeBase64(ca), "clientConfig", "caBundle")
				}
				_ = unstructured.SetNestedSlice(u.Object, hooks, "webhooks")
				if _, err := env.Dynamic.Resource(gvr).Update(ctx, &u, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		u, err := env.Dynamic.Resource(crdGVR).Get(ctx, cogCRDName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(u.Object, encodeBase64(ca), "spec", "conversion", "webhook", "clientConfig", "caBundle")
		if _, err := env.Dynamic.Resource(crdGVR).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setBundles(first.CABundle)
	if err := g.waitReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	chain, err := served(g)
	if err != nil || !chain[0].Equal(first.Leaf()) {
		t.Fatalf("serving %v, %v; want the certificate of the files", chain, err)
	}

	// The kubelet updates the mounted Secret with a certificate of a new CA,
	// after the user added that CA to the caBundles.
	next, err := first.Rotate(hosts, time.Now(), time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	setBundles(next.CABundle)
	rv := map[string]string{}
	for _, n := range []string{name, "orkestra-gateway-" + c.name + "-namespace-protection"} {
		u, err := env.Dynamic.Resource(validatingGVR).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rv[n] = u.GetResourceVersion()
	}
	pid := g.proc.PID()
	if err := g.proc.WriteFile(dir+"tls.key", next.KeyPEM); err != nil {
		t.Fatal(err)
	}
	if err := g.proc.WriteFile(dir+"tls.crt", next.CertPEM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the new certificate served", func() error {
		chain, err := served(g)
		if err != nil {
			return err
		}
		if !chain[0].Equal(next.Leaf()) {
			return fmt.Errorf("still serving serial %s", chain[0].SerialNumber)
		}
		return nil
	})
	if exited(g.proc) || g.proc.PID() != pid {
		t.Fatal("the gateway restarted to load the new certificate")
	}
	if code, body := g.probe("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the reload: %d %s", code, body)
	}
	time.Sleep(2500 * time.Millisecond) // a few ticks: the gateway must not touch the caBundles
	for n, want := range rv {
		u, err := env.Dynamic.Resource(validatingGVR).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u.GetResourceVersion() != want {
			t.Errorf("the gateway wrote %s (resourceVersion %s -> %s) although the user owns its caBundle", n, want, u.GetResourceVersion())
		}
	}
	if _, err := env.Clientset.CoreV1().Secrets(gatewayNamespace).Get(ctx, c.secret(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("with external certificates the gateway created its Secret (%v)", err)
	}
	if got := metric(t, g, "orkestra_gateway_certificate_expiry_timestamp_seconds"); int64(got) != next.NotAfter().Unix() {
		t.Errorf("expiry metric %v, want %d", got, next.NotAfter().Unix())
	}

	// A certificate no caBundle trusts: served (the user's choice), but the
	// replica is not ready.
	stranger, err := certs.Generate(hosts, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mark := len(g.proc.Logs())
	if err := g.proc.WriteFile(dir+"tls.key", stranger.KeyPEM); err != nil {
		t.Fatal(err)
	}
	if err := g.proc.WriteFile(dir+"tls.crt", stranger.CertPEM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "not ready with an untrusted certificate", func() error {
		if code, body := g.probe("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "certificate trust not confirmed") ||
			!strings.Contains(g.proc.Logs()[mark:], "does not trust the served certificate") {
			return fmt.Errorf("/readyz %d %s", code, body)
		}
		return nil
	})
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func fromUnstructured(obj map[string]any, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into)
}
