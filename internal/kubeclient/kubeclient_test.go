package kubeclient

import (
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// apiServer answers ConfigMap requests for the tokens it accepts and
// records what every request carried.
type apiServer struct {
	*httptest.Server
	mu     sync.Mutex
	accept map[string]bool
	seen   []seenRequest
}

type seenRequest struct {
	method, token, userAgent, body string
}

func newAPIServer(t *testing.T, accept ...string) *apiServer {
	s := &apiServer{accept: map[string]bool{}}
	for _, a := range accept {
		s.accept[a] = true
	}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{r.Method, tok, r.Header.Get("User-Agent"), string(body)})
		ok := s.accept[tok]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
			return
		}
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(body)
			return
		}
		_, _ = io.WriteString(w, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm","namespace":"ns"}}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) setAccepted(tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accept = map[string]bool{}
	for _, a := range tokens {
		s.accept[a] = true
	}
}

// requests returns what was seen since the last call.
func (s *apiServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.seen
	s.seen = nil
	return r
}

func (s *apiServer) tokens() []string {
	var toks []string
	for _, r := range s.requests() {
		toks = append(toks, r.token)
	}
	return toks
}

// caFile writes the server's certificate as the CA file of a pod.
func (s *apiServer) caFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "ca.crt")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// writeToken replaces the token file by rename, as the kubelet does.
func writeToken(t *testing.T, path, tok string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	srv       *apiServer
	tokenFile string
	clock     *clock
	cluster   *Cluster
	client    dynamic.Interface
}

func newFixture(t *testing.T, token string, accept ...string) *fixture {
	t.Helper()
	f := &fixture{srv: newAPIServer(t, accept...), tokenFile: filepath.Join(t.TempDir(), "token"), clock: &clock{t: time.Unix(1_000_000, 0)}}
	writeToken(t, f.tokenFile, token)
	c, err := New(f.srv.URL, f.srv.caFile(t), f.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	c.tokens.now = f.clock.now
	c.tokens.read = f.clock.now() // the token New read, as of the fake clock
	f.cluster = c
	if f.client, err = c.Dynamic(Options{UserAgent: "orkestra-gateway/test", QPS: 100, Burst: 100}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) get(t *testing.T) error {
	t.Helper()
	_, err := f.client.Resource(configMaps).Namespace("ns").Get(t.Context(), "cm", metav1.GetOptions{})
	return err
}

// Every request carries the token of the file and the client's user agent,
// over TLS verified with the CA file.
func TestTokenAndUserAgent(t *testing.T) {
	f := newFixture(t, "token-a", "token-a")
	if err := f.get(t); err != nil {
		t.Fatal(err)
	}
	got := f.srv.requests()
	if len(got) != 1 || got[0].token != "token-a" || got[0].userAgent != "orkestra-gateway/test" {
		t.Errorf("requests %+v", got)
	}
}

// A rotated token is read once the period has passed, and not before: the
// file is not read on every request.
func TestTokenReReadEveryPeriod(t *testing.T) {
	f := newFixture(t, "token-a", "token-a", "token-b")
	writeToken(t, f.tokenFile, "token-b")
	if err := f.get(t); err != nil {
		t.Fatal(err)
	}
	f.clock.add(tokenPeriod - time.Second)
	if err := f.get(t); err != nil {
		t.Fatal(err)
	}
	f.clock.add(time.Second)
	if err := f.get(t); err != nil {
		t.Fatal(err)
	}
	if got, want := f.srv.tokens(), []string{"token-a", "token-a", "token-b"}; !equal(got, want) {
		t.Errorf("tokens sent %q, want %q", got, want)
	}
}

// A 401 answered to a token the file has since replaced is retried once
// with the new token, body included: the caller sees no failure.
func TestUnauthorizedRetriedWithRotatedToken(t *testing.T) {
	f := newFixture(t, "token-a", "token-a")
	writeToken(t, f.tokenFile, "token-b")
	f.srv.setAccepted("token-b") // token-a is revoked
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "new", "namespace": "ns"},
		"data":     map[string]any{"k": "v"},
	}}
	if _, err := f.client.Resource(configMaps).Namespace("ns").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create with a rotated token: %v", err)
	}
	got := f.srv.requests()
	if len(got) != 2 || got[0].token != "token-a" || got[1].token != "token-b" {
		t.Fatalf("requests %+v, want token-a then token-b", got)
	}
	if got[0].body == "" || got[1].body != got[0].body || got[1].method != http.MethodPost {
		t.Errorf("the retry did not resend the body: %q then %q", got[0].body, got[1].body)
	}
	// The new token is kept: the next request sends it at once.
	if err := f.get(t); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.tokens(); !equal(got, []string{"token-b"}) {
		t.Errorf("after the retry: tokens %q", got)
	}
}

// A 401 with no newer token in the file reaches the caller as 401, after
// one request: there is nothing to retry with.
func TestUnauthorizedWithoutNewerToken(t *testing.T) {
	f := newFixture(t, "token-a")
	err := f.get(t)
	if !apierrors.IsUnauthorized(err) {
		t.Fatalf("err = %v, want 401", err)
	}
	if got := f.srv.tokens(); !equal(got, []string{"token-a"}) {
		t.Errorf("tokens %q", got)
	}
}

// While the file cannot be read (between the kubelet's writes) the token in
// hand is kept; a new file is read at the next period.
func TestUnreadableFileKeepsToken(t *testing.T) {
	f := newFixture(t, "token-a", "token-a", "token-b")
	if err := os.Remove(f.tokenFile); err != nil {
		t.Fatal(err)
	}
	f.clock.add(tokenPeriod)
	if err := f.get(t); err != nil {
		t.Fatal(err)
	}
	writeToken(t, f.tokenFile, "token-b")
	f.clock.add(time.Second) // the failed read did not reset the period
	if err := f.get(t); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.tokens(); !equal(got, []string{"token-a", "token-b"}) {
		t.Errorf("tokens %q", got)
	}
}

// Clients made from one cluster have their own connections.
func TestClientsShareNoConnections(t *testing.T) {
	f := newFixture(t, "token-a", "token-a")
	a, b := f.cluster.HTTPClient(Options{}), f.cluster.HTTPClient(Options{})
	if a.Transport.(*authTransport).base == b.Transport.(*authTransport).base {
		t.Error("two clients share one transport")
	}
}

// Broken mounts fail at start-up with the file named.
func TestNewErrors(t *testing.T) {
	srv := newAPIServer(t)
	dir := t.TempDir()
	ca := srv.caFile(t)
	tok := filepath.Join(dir, "token")
	writeToken(t, tok, "token-a")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca-not-pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ca, token, want string
	}{
		{"missing CA", filepath.Join(dir, "nope"), tok, "API server CA: open " + filepath.Join(dir, "nope")},
		{"CA without PEM", notPEM, tok, "API server CA " + notPEM + ": no PEM certificate in it"},
		{"missing token", ca, filepath.Join(dir, "nope"), "service-account token: open " + filepath.Join(dir, "nope")},
		{"empty token", ca, empty, "service-account token " + empty + " is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(srv.URL, c.ca, c.token)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	cl, err := New(srv.URL, ca, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Dynamic(Options{UserAgent: "x", QPS: 0, Burst: 1}); err == nil {
		t.Error("a client without a budget was built")
	}
}

func TestInClusterNeedsServiceEnv(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	if _, err := InCluster(); !errors.Is(err, ErrNotInCluster) {
		t.Errorf("err = %v", err)
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}
