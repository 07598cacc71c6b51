package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"encoding/json"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

const secretName = "orkestra-internal-tls"

var managedSelector = "app.kubernetes.io/managed-by=orkestra-gateway"

func gatewaySecret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := env.Clientset.CoreV1().Secrets(gatewayNamespace).Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the gateway's TLS Secret: %v", err)
	}
	return s
}

// servedCertificate returns the leaf certificate the replica serves, after
// verifying it against the Secret's ca.crt.
func servedCertificate(t *testing.T, g *gateway, caPEM []byte) []byte {
	t.Helper()
	c := webhookClient(t, caPEM)
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.ServerName = "127.0.0.1"
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(g.webhookPort)), tr.TLSClientConfig)
	if err != nil {
		t.Fatalf("TLS to the webhook port with the Secret's CA: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

func registrations(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	v, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		t.Fatal(err)
	}
	m, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		t.Fatal(err)
	}
	return len(v.Items) + len(m.Items)
}

// TestKillRestartTerm: SIGKILL keeps deletion protection failing closed and
// validation failing open; a restart reuses the Secret; SIGTERM removes the
// registrations and exits 0.
func TestKillRestartTerm(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, "team-kill", nil)
	ensureWidgetCRD(t)
	// Namespace protection fails closed by default and covers every widget;
	// make it fail open here so the widget below shows validation's policy.
	text := strings.Replace(readTestdata(t, "admission-katalog.yaml"),
		"  namespaceProtection:\n    enabled: true\n",
		"  namespaceProtection:\n    enabled: true\n    failurePolicy: Ignore\n", 1)
	g := startGateway(t, gatewayOptions{
		Katalog: text,
		Files:   map[string]string{"crds/widget.yaml": readTestdata(t, "widget-crd.yaml")},
		Args:    []string{"--sync-interval", "1s"},
	})
	waitProtection(t, "default")
	mustCreateCM(t, "default", "kill-protected", protected)
	secret := gatewaySecret(t)
	firstCert := servedCertificate(t, g, secret.Data["ca.crt"])
	if n := registrations(t); n == 0 {
		t.Fatal("no webhook configuration registered")
	}

	g.proc.Kill()
	if _, err := g.proc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Fail closed: the protected object cannot be deleted while the gateway is down.
	err := env.Clientset.CoreV1().ConfigMaps("default").Delete(ctx, "kill-protected", metav1.DeleteOptions{})
	if err == nil {
		t.Fatal("deleting a protected object succeeded with the gateway down")
	}
	if !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("want a webhook call failure, got %v", err)
	}
	if _, err := env.Clientset.CoreV1().ConfigMaps("default").Get(ctx, "kill-protected", metav1.GetOptions{}); err != nil {
		t.Fatalf("protected object gone: %v", err)
	}
	// Fail open: validation (failurePolicy Ignore) lets an invalid object through.
	bad := widget("while-down", map[string]any{"replicas": int64(99)})
	if _, err := env.Dynamic.Resource(widgets).Namespace("team-kill").Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatalf("validation should fail open with the gateway down: %v", err)
	}

	// Restart: same Secret, same certificate, no rewrite.
	g2 := startGateway(t, gatewayOptions{Restart: g, Args: []string{"--sync-interval", "1s"}})
	again := gatewaySecret(t)
	if again.UID != secret.UID || again.ResourceVersion != secret.ResourceVersion {
		t.Errorf("restart rewrote the Secret: uid %s->%s rv %s->%s", secret.UID, again.UID, secret.ResourceVersion, again.ResourceVersion)
	}
	if !bytes.Equal(servedCertificate(t, g2, again.Data["ca.crt"]), firstCert) {
		t.Errorf("restart serves a different certificate than before")
	}
	waitProtection(t, "default")

	// SIGTERM: exit 0, registrations removed (URL mode: this replica is the last).
	if err := g2.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := g2.proc.Wait(30 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, g2.proc.Logs())
	}
	if n := registrations(t); n != 0 {
		t.Errorf("%d webhook configurations left after SIGTERM", n)
	}
	// Without registrations, the protected object can be deleted again: the
	// uninstall left nothing behind.
	eventually(t, 10*time.Second, "delete after uninstall", func() error {
		return env.Clientset.CoreV1().ConfigMaps("default").Delete(ctx, "kill-protected", metav1.DeleteOptions{})
	})
}

// TestRefusesOutsidePod runs the binary on the host: no token, no
// KUBERNETES_SERVICE_HOST.
func TestRefusesOutsidePod(t *testing.T) {
	bin := testenv.BuildGateway(t)
	cmd := exec.Command(bin, "gateway", "-f", "/nonexistent/katalog.yaml")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 {
		t.Fatalf("want a non-zero exit, got %v\n%s", err, out.String())
	}
	msg := strings.TrimSpace(out.String())
	for _, want := range []string{"only runs inside a Kubernetes pod", "ork gateway eval", "KUBERNETES_SERVICE_HOST"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "katalog.yaml") {
		t.Errorf("the guard must come before the Katalog is read; got %q", msg)
	}
	if _, err := os.Stat("/var/run/secrets/kubernetes.io"); !os.IsNotExist(err) {
		t.Errorf("the host has /var/run/secrets/kubernetes.io (%v): tests must never create it", err)
	}
}

// proxy forwards TCP to the API server until closed, then refuses and cuts
// every connection: the gateway loses the API server.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestHandlersWithoutAPIServer cuts the gateway off from the API server once
// it is ready: the handlers still answer correctly (they decide from the
// request alone), both when the API server calls them and when called
// directly.
func TestHandlersWithoutAPIServer(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, "team-cut", nil)
	// Cut off, the gateway cannot remove its registrations when it is
	// killed; they would send later tests' requests to a closed port.
	t.Cleanup(func() { removeExampleRegistrations(t, "e2e") })
	px := startProxy(t, net.JoinHostPort(env.Host, itoa(env.Port)))
	g := startGateway(t, gatewayOptions{
		Katalog:       readTestdata(t, "admission-katalog.yaml"),
		Files:         map[string]string{"crds/widget.yaml": readTestdata(t, "widget-crd.yaml")},
		Args:          []string{"--sync-interval", "1h"},
		APIServerPort: px.port(),
	})
	ensureWidgetCRD(t)
	waitProtection(t, "default")
	ca := gatewaySecret(t).Data["ca.crt"]
	px.close()

	// Through the API server.
	mustCreateCM(t, "default", "cut-protected", protected)
	if err := env.Clientset.CoreV1().ConfigMaps("default").Delete(ctx, "cut-protected", metav1.DeleteOptions{}); !isForbidden(err) {
		t.Fatalf("protected delete with the gateway cut off: want Forbidden, got %v", err)
	}
	bad := widget("cut-bad", map[string]any{"replicas": int64(0)})
	if _, err := env.Dynamic.Resource(widgets).Namespace("team-cut").Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("invalid widget with the gateway cut off: want Invalid, got %v", err)
	}

	// Directly: a DELETE review of a protected object.
	old, _ := json.Marshal(configMap("direct", protected))
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("direct-1"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Name:      "direct",
			Namespace: "default",
			Operation: admissionv1.Delete,
			OldObject: runtime.RawExtension{Raw: old},
		},
	}
	body, _ := json.Marshal(review)
	resp, err := webhookClient(t, ca).Post("https://127.0.0.1:"+itoa(g.webhookPort)+"/deletion-protection", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || out.Response.UID != "direct-1" || out.Response.Allowed {
		t.Fatalf("direct review: %+v", out.Response)
	}
	if code, _ := g.probe("/livez"); code != 200 {
		t.Errorf("/livez = %d with the API server cut off", code)
	}

	// The webhook listener speaks HTTP/1.1 over TLS 1.2 or later only.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	addr := net.JoinHostPort("127.0.0.1", itoa(g.webhookPort))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("negotiated %q, want http/1.1", p)
	}
	conn.Close()
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Errorf("a TLS 1.1 handshake succeeded")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestInvalidKatalogRefused: inside a pod, a Katalog with errors is refused
// at start-up with the same findings as `ork validate`, and nothing is
// registered.
func TestInvalidKatalogRefused(t *testing.T) {
	before := registrations(t)
	g := startGateway(t, gatewayOptions{
		Katalog: `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: broken
gateway:
  url: "{{URL}}"
security:
  deletionProtection:
    failurPolicy: Fail
`,
		NoWait: true,
	})
	code, err := g.proc.Wait(30 * time.Second)
	if err != nil || code != 1 {
		t.Fatalf("exit code %d (%v), want 1\n%s", code, err, g.proc.Logs())
	}
	logs := g.proc.Logs()
	for _, want := range []string{
		"katalog.yaml:9:5: error K02 strict-schema: unknown field \"failurPolicy\" in security.deletionProtection",
		"did you mean \"failurePolicy\"?",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %q:\n%s", want, logs)
		}
	}
	if after := registrations(t); after != before {
		t.Errorf("registrations changed from %d to %d", before, after)
	}
}
