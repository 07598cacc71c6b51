// Package ha runs the real gateway binary (go build -tags gateway) as
// replicas behind a real Service, in pod sandboxes, the way a Deployment
// runs it: the webhooks are registered by Service reference, the API server
// resolves the Service to the EndpointSlices the harness keeps (package
// internal/testenv/service) and spreads the calls itself. The whole package
// runs in a private network namespace whose lo carries one address per
// replica.
package ha

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
	"github.com/orkspace/orkestra-gateway/internal/testenv/service"
)

var env *testenv.Env

// addresses: three replicas, and three more for the rolling update.
const addresses = 6

func TestMain(m *testing.M) { service.Main(m, &env, addresses) }

const (
	gatewayNS    = "orkestra-system"
	serviceName  = "orkestra-gateway"
	katalogName  = "ha"
	loadNS       = "ha-load"
	katalogLabel = "orkestra.orkspace.io/katalog"
	// serverName is the host the API server verifies when it calls a
	// webhook through a Service (whatever endpoint it dials).
	serverName = serviceName + "." + gatewayNS + ".svc"
)

var (
	widgets       = schema.GroupVersionResource{Group: "e2e.example.com", Version: "v1", Resource: "widgets"}
	crds          = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	validatingGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
)

// suite is the Service, the Katalog and the gateway binary shared by the
// replicas of a test.
type suite struct {
	svc     *service.Service
	bin     string
	katalog string
	slack   *notifytest.Slack
	used    [addresses]bool // addresses of replicas not stopped yet
	started int
}

// replica is one sandboxed gateway behind the Service.
type replica struct {
	*service.Replica
	idx                                int // address index
	webhookPort, notifyPort, probePort int
}

func newSuite(t *testing.T) *suite {
	t.Helper()
	ctx := context.Background()
	s := &suite{bin: testenv.BuildGateway(t), slack: notifytest.NewSlack(t, "")}
	dir := t.TempDir()
	s.katalog = filepath.Join(dir, "katalog.yaml")
	copyFile(t, "testdata/katalog.yaml", s.katalog)
	copyFile(t, "testdata/crds/widget.yaml", filepath.Join(dir, "crds", "widget.yaml"))

	applyCRD(t, "testdata/crds/widget.yaml")
	for _, ns := range []string{gatewayNS, loadNS} {
		if _, err := env.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// RBAC minimality is the bundle's test (TestBundleMinimal).
	if err := env.BindClusterAdmin(ctx, gatewayNS, "gateway"); err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(env, gatewayNS, serviceName,
		service.Port{Name: "https", Port: 443, TargetPort: "webhook"},
		service.Port{Name: "notify", Port: 8444, TargetPort: "notify"})
	if err != nil {
		t.Fatal(err)
	}
	s.svc = svc
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("service harness: %v", err)
		}
	})
	return s
}

// start runs a replica on a free address (and ports of its own), adds it
// behind the Service and waits until its endpoint is ready.
func (s *suite) start(t *testing.T) *replica {
	t.Helper()
	i := slices.Index(s.used[:], false)
	if i < 0 {
		t.Fatalf("all %d addresses on lo are taken", addresses)
	}
	s.used[i] = true
	r := &replica{idx: i, webhookPort: 9400 + i, notifyPort: 9500 + i, probePort: 9600 + i}
	name, ip := fmt.Sprintf("gateway-%d", s.started), service.Address(i)
	s.started++
	start := time.Now()
	proc := env.StartInPod(t, testenv.PodOptions{
		Path: s.bin,
		Args: []string{"gateway", "-f", s.katalog,
			"--webhook-port", strconv.Itoa(r.webhookPort),
			"--notify-port", strconv.Itoa(r.notifyPort),
			"--probe-port", strconv.Itoa(r.probePort),
			"--drain-timeout", "10s",
		},
		Namespace:      gatewayNS,
		ServiceAccount: "gateway",
		Name:           name,
		// The downward API's status.podIP: the replica's own address.
		Env: []string{"POD_IP=" + ip, "SLACK_WEBHOOK_URL=" + s.slack.WebhookURL("ops")},
	})
	r.Replica = &service.Replica{
		Name: name, IP: ip, Proc: proc,
		Ports:    map[string]int{"webhook": r.webhookPort, "notify": r.notifyPort},
		ReadyURL: fmt.Sprintf("http://%s:%d/readyz", ip, r.probePort),
	}
	if err := s.svc.Add(r.Replica); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.WaitReady(r.Replica, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s ready at %s in %s (start to ready in the EndpointSlice)", name, ip, time.Since(start).Round(time.Millisecond))
	return r
}

// stopped frees r's address once its process has exited and its endpoint
// is gone.
func (s *suite) stopped(r *replica) { s.used[r.idx] = false }

// served is how many admission requests r has answered.
func (r *replica) served(t *testing.T) int {
	t.Helper()
	return int(metric(t, r, "orkestra_gateway_admission_requests_total"))
}

// metric sums the samples of one metric of r's /metrics; 0 when absent.
func metric(t *testing.T, r *replica, name string) float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d/metrics", r.IP, r.probePort))
	if err != nil {
		t.Fatalf("%s /metrics: %v", r.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum, _ := testenv.SumMetric(t, string(body), name)
	return sum
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// applyCRD creates a CRD from a file and waits until its resource is served.
func applyCRD(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := env.Dynamic.Resource(crds).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "widgets served", func() error {
		_, err := env.Dynamic.Resource(widgets).Namespace("default").List(ctx, metav1.ListOptions{})
		return err
	})
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// registrations are the names of the Katalog's webhook configurations and,
// for each webhook, where it points.
func registrations(t *testing.T) (names []string, targets []string) {
	t.Helper()
	list, err := env.Dynamic.Resource(validatingGVR).List(context.Background(), metav1.ListOptions{LabelSelector: katalogLabel + "=" + katalogName})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Items {
		names = append(names, c.GetName())
		hooks, _, _ := unstructured.NestedSlice(c.Object, "webhooks")
		for _, h := range hooks {
			cc, _ := h.(map[string]any)["clientConfig"].(map[string]any)
			if u, ok := cc["url"].(string); ok {
				targets = append(targets, "url "+u)
			}
			if svc, ok := cc["service"].(map[string]any); ok {
				targets = append(targets, fmt.Sprintf("service %s/%s:%v%s", svc["namespace"], svc["name"], svc["port"], svc["path"]))
			}
		}
	}
	slices.Sort(names)
	return names, targets
}

// notifyClient posts to one replica's /notify at its address, verifying
// the certificate for the Service's name, as a caller through the Service
// does.
func notifyClient(t *testing.T) *http.Client {
	t.Helper()
	sec, err := env.Clientset.CoreV1().Secrets(gatewayNS).Get(context.Background(), "orkestra-internal-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(sec.Data["ca.crt"]) {
		t.Fatal("no certificate in the Secret's ca.crt")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12},
	}}
}

// postEvent POSTs one event to r and returns the answer's status.
func postEvent(t *testing.T, c *http.Client, r *replica, token string, ev map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(ev)
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("https://%s:%d/notify", r.IP, r.notifyPort), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("POST /notify to %s: %v", r.Name, err)
		return ""
	}
	defer resp.Body.Close()
	var ans struct{ Status, Reason, Error string }
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &ans)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /notify to %s: %d %s", r.Name, resp.StatusCode, raw)
	}
	return ans.Status
}

// sameEventEverywhere POSTs events[i] to replicas[i], all at the same
// instant, and returns the answers' statuses.
func sameEventEverywhere(t *testing.T, c *http.Client, rs []*replica, token string, events []map[string]any) []string {
	t.Helper()
	out := make([]string, len(rs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			<-start
			out[i] = postEvent(t, c, r, token, events[i])
		})
	}
	close(start)
	wg.Wait()
	return out
}
