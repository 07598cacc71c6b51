// Package e2e runs the real gateway binary (go build -tags gateway) in a
// pod-like sandbox against a real kube-apiserver, and checks what a user with
// kubectl would see.
package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// gatewayNamespace is where the sandboxed gateway "runs".
const gatewayNamespace = "orkestra-system"

// gateway is one sandboxed replica.
type gateway struct {
	proc        *testenv.Process
	webhookPort int
	probePort   int
	notifyPort  int
	katalog     string
}

type gatewayOptions struct {
	// Katalog is the Katalog text; "{{URL}}" is replaced by the replica's
	// webhook URL (https://127.0.0.1:PORT).
	Katalog string
	// Files are copied next to the Katalog (e.g. crds/widget.yaml).
	Files map[string]string
	Args  []string
	Env   []string
	// APIServerPort overrides KUBERNETES_SERVICE_PORT (e.g. a proxy).
	APIServerPort int
	// Dir reuses a Katalog directory (restart with the same ports).
	Restart *gateway
	// Namespace and ServiceAccount of the pod (default gatewayNamespace,
	// "gateway"); NoClusterAdmin runs it with only the RBAC the test gives
	// that account; NoWait returns as soon as the process starts.
	Namespace      string
	ServiceAccount string
	NoClusterAdmin bool
	NoWait         bool
	// PodFiles are written into the sandbox's /run (e.g. mounted certificates).
	PodFiles map[string][]byte
}

// freePort returns a port free now and never returned before in this
// process: the kernel may hand a closed port out again at once, and two
// listeners of one gateway on the same port make it refuse to start.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsGiven[p] {
			portsGiven[p] = true
			return p
		}
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// startGateway writes the Katalog, starts the binary in a sandbox as the
// ServiceAccount orkestra-system/gateway (bound to cluster-admin: RBAC
// minimality is the bundle's test) and waits until /readyz answers 200.
func startGateway(t *testing.T, o gatewayOptions) *gateway {
	t.Helper()
	g := &gateway{}
	if o.Restart != nil {
		*g = *o.Restart
	} else {
		g.webhookPort, g.probePort, g.notifyPort = freePort(t), freePort(t), freePort(t)
		dir := t.TempDir()
		g.katalog = filepath.Join(dir, "katalog.yaml")
		text := strings.ReplaceAll(o.Katalog, "{{URL}}", fmt.Sprintf("https://127.0.0.1:%d", g.webhookPort))
		writeFile(t, g.katalog, text)
		for name, content := range o.Files {
			writeFile(t, filepath.Join(dir, name), content)
		}
	}
	ctx := context.Background()
	ns, sa := gatewayNamespace, "gateway"
	if o.Namespace != "" {
		ns = o.Namespace
	}
	if o.ServiceAccount != "" {
		sa = o.ServiceAccount
	}
	if !o.NoClusterAdmin {
		if err := env.BindClusterAdmin(ctx, ns, sa); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"gateway", "-f", g.katalog,
		"--webhook-port", strconv.Itoa(g.webhookPort),
		"--probe-port", strconv.Itoa(g.probePort),
		"--notify-port", strconv.Itoa(g.notifyPort),
	}, o.Args...)
	penv := o.Env
	if o.APIServerPort != 0 {
		penv = append(penv, "KUBERNETES_SERVICE_PORT="+strconv.Itoa(o.APIServerPort))
	}
	// Registered before the process starts, so it runs after the process
	// is stopped: a gateway killed without cleanup leaves Fail webhooks
	// that would refuse the next test's requests.
	if name := katalogName(t, g.katalog); name != "" {
		t.Cleanup(func() { deleteConfigs(t, "orkestra.orkspace.io/katalog="+name) })
	}
	start := time.Now()
	g.proc = env.StartInPod(t, testenv.PodOptions{
		Path:           testenv.BuildGateway(t),
		Args:           args,
		Namespace:      ns,
		ServiceAccount: sa,
		Env:            penv,
		Files:          o.PodFiles,
	})
	if o.NoWait {
		return g
	}
	if err := g.waitReady(30 * time.Second); err != nil {
		t.Fatalf("gateway not ready: %v\n%s", err, g.proc.Logs())
	}
	t.Logf("gateway ready in %s (start to ready, including sandbox set-up)", time.Since(start).Round(time.Millisecond))
	return g
}

// katalogName reads metadata.name of the Katalog file ("" when it has
// none: the gateway refuses it anyway).
func katalogName(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = yaml.Unmarshal(b, &k)
	return k.Metadata.Name
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// probe GETs a probe path and returns the status code (0 when unreachable).
func (g *gateway) probe(path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", g.probePort, path))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (g *gateway) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		code, body := g.probe("/readyz")
		if code == http.StatusOK {
			return nil
		}
		last = fmt.Sprintf("%d %s", code, body)
		time.Sleep(50 * time.Millisecond)
		if exited(g.proc) {
			return fmt.Errorf("the gateway exited")
		}
	}
	return fmt.Errorf("/readyz after %s: %s", timeout, last)
}

func exited(p *testenv.Process) bool {
	_, err := p.Wait(0)
	return err == nil
}

// webhookClient trusts only caPEM (the Secret's ca.crt).
func webhookClient(t testing.TB, caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in ca.crt")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isForbidden(err error) bool { return apierrors.IsForbidden(err) }

var _ = metav1.Now

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}
