package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// hostileGateway starts a gateway with every listener mounted (admission,
// conversion, /notify): the target of the memory attack and of the
// hostile-input corpus.
func hostileGateway(t *testing.T, extraEnv ...string) *gateway {
	t.Helper()
	ensureWidgetCRD(t)
	applyCRD(t, readTestdata(t, "conversion-crd.yaml"))
	if err := env.BindClusterAdmin(t.Context(), gatewayNamespace, hostileCaller); err != nil {
		t.Fatal(err) // the caller /notify allows; its rights do not matter
	}
	// Killed at the end of the test, the gateway cannot remove its
	// registrations; they would send other tests' requests to a closed port.
	t.Cleanup(func() { removeExampleRegistrations(t, "e2e-hostile") })
	return startGateway(t, gatewayOptions{
		Katalog: readTestdata(t, "hostile-katalog.yaml"),
		Files: map[string]string{
			"crds/widget.yaml": readTestdata(t, "widget-crd.yaml"),
			"crds/gadget.yaml": readTestdata(t, "conversion-crd.yaml"),
		},
		// Nothing is ever delivered: every /notify request of these tests is
		// refused before an event is queued.
		Env: append([]string{"SLACK_WEBHOOK_URL=http://127.0.0.1:9/unreachable"}, extraEnv...),
	})
}

// hostileCaller is the ServiceAccount the hostile Katalog allows on /notify.
const hostileCaller = "hostile-caller"

// memory is the gateway process's resident set, from /proc/PID/status.
type memory struct {
	rss, peak int64 // VmRSS and VmHWM (the peak since start), bytes
}

func (g *gateway) memory(t testing.TB) memory {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.proc.PID()))
	if err != nil {
		t.Fatalf("reading the gateway's memory: %v", err)
	}
	var m memory
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/status: %q", g.proc.PID(), line)
		}
		switch key {
		case "VmRSS":
			m.rss = n << 10
		case "VmHWM":
			m.peak = n << 10
		}
	}
	if m.rss == 0 || m.peak == 0 {
		t.Fatalf("/proc/%d/status has no VmRSS or VmHWM:\n%s", g.proc.PID(), b)
	}
	return m
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// tlsDial opens a TLS connection to the webhook listener, trusting ca.
func tlsDial(t testing.TB, port int, ca []byte) (*tls.Conn, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no certificate in ca.crt")
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
}

// widgetReview is a well-formed CREATE review of a valid Widget, as the API
// server sends to /validate.
func widgetReview(t testing.TB, uid string) []byte {
	t.Helper()
	obj, err := json.Marshal(widget("memory-probe", map[string]any{"replicas": int64(3), "tier": "gold"}).Object)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID(uid),
			Kind:      metav1.GroupVersionKind{Group: "e2e.example.com", Version: "v1", Kind: "Widget"},
			Resource:  metav1.GroupVersionResource{Group: "e2e.example.com", Version: "v1", Resource: "widgets"},
			Name:      "memory-probe",
			Namespace: "team-a",
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: obj},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validateAnswered posts a valid review to /validate and checks the answer:
// 200, the request's UID, allowed.
func validateAnswered(t testing.TB, client *http.Client, port int, uid string) error {
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/validate", port), "application/json", bytes.NewReader(widgetReview(t, uid)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/validate: %d %s", resp.StatusCode, body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("/validate: %v: %s", err, body)
	}
	if out.Response == nil || string(out.Response.UID) != uid || !out.Response.Allowed {
		return fmt.Errorf("/validate: unexpected answer %s", body)
	}
	return nil
}

// announce opens a connection to the webhook listener and sends the head of
// a POST to path declaring declared bytes of body, then sent bytes of it,
// and leaves the connection open. The caller closes it.
func announce(t testing.TB, port int, ca []byte, path string, declared int64, sent int) (*tls.Conn, error) {
	c, err := tlsDial(t, port, ca)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, declared)
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(append([]byte(head), bytes.Repeat([]byte("{"), sent)...)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Memory exhaustion without authentication: 32 connections at once each
// declare a 60 MiB body and send 10 bytes of it, three times over, to the
// paths of the webhook listener that read a body; then twice more declaring
// lengths just under each path's limit, which must not be allocated either.
// The gateway's resident set stays under 64 MiB, /readyz stays 200 and a
// normal /validate review is answered meanwhile.
func TestWebhookMemoryAttack(t *testing.T) {
	g := hostileGateway(t)
	ca := gatewaySecret(t).Data["ca.crt"]
	client := webhookClient(t, ca)
	const (
		conns = 32
		sent  = 10
		bound = 64 << 20
	)
	waves := []struct {
		path     string
		declared int64
	}{
		{"/convert", 60 << 20}, // the widest limit before the fix
		{"/validate", 60 << 20},
		{"/convert", 60 << 20},
		{"/validate", 8<<20 - 1}, // just under the limits: accepted, waiting for bytes
		{"/convert", 16<<20 - 1},
	}
	before := g.memory(t)
	t.Logf("before the attack: RSS %s, peak %s", mib(before.rss), mib(before.peak))

	for wave, w := range waves {
		path, declared := w.path, w.declared
		var mu sync.Mutex
		var open []*tls.Conn
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for range conns {
			wg.Go(func() {
				c, err := announce(t, g.webhookPort, ca, path, declared, sent)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("wave %d: %v", wave+1, err)
		}
		// While the connections are held: the gateway is ready and answers.
		time.Sleep(time.Second)
		if code, body := g.probe("/readyz"); code != http.StatusOK {
			t.Errorf("wave %d: /readyz %d %s during the attack", wave+1, code, body)
		}
		if err := validateAnswered(t, client, g.webhookPort, fmt.Sprintf("memory-wave-%d", wave+1)); err != nil {
			t.Errorf("wave %d: a normal review during the attack: %v", wave+1, err)
		}
		m := g.memory(t)
		codes := answers(open)
		t.Logf("wave %d (%d x %s declared, %d bytes sent, %s): RSS %s, peak %s; answers so far %v",
			wave+1, conns, mib(declared), sent, path, mib(m.rss), mib(m.peak), codes)
		for _, c := range open {
			c.Close()
		}
		if exited(g.proc) {
			t.Fatalf("the gateway exited during wave %d:\n%s", wave+1, g.proc.Logs())
		}
	}
	time.Sleep(500 * time.Millisecond)
	after := g.memory(t)
	t.Logf("after the attack: RSS %s, peak %s (bound %s)", mib(after.rss), mib(after.peak), mib(bound))
	if after.peak > bound {
		t.Errorf("peak RSS %s exceeds %s", mib(after.peak), mib(bound))
	}
	if code, body := g.probe("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d %s after the attack", code, body)
	}
	if err := validateAnswered(t, client, g.webhookPort, "memory-after"); err != nil {
		t.Errorf("a normal review after the attack: %v", err)
	}
	if strings.Contains(g.proc.Logs(), "panic") {
		t.Errorf("the gateway logged a panic:\n%s", g.proc.Logs())
	}
}

// answers reads, without waiting long, the status each connection got so
// far: "-" for none yet.
func answers(conns []*tls.Conn) map[string]int {
	out := map[string]int{}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			out["-"]++
			continue
		}
		resp.Body.Close()
		out[strconv.Itoa(resp.StatusCode)]++
	}
	return out
}
