package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// The control plane is started only by the tests that need a real
// TokenReview, so unit tests and fuzzing do not pay for it.
var (
	cpOnce sync.Once
	cp     *testenv.Env
	cpErr  error
)

func controlPlane(t *testing.T) *testenv.Env {
	t.Helper()
	cpOnce.Do(func() { cp, cpErr = testenv.Start() })
	if cpErr != nil {
		t.Fatalf("testenv: %v", cpErr)
	}
	return cp
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		if err := cp.Stop(); err != nil {
			slog.Error("stopping the control plane", "err", err)
		}
	}
	os.Exit(code)
}

// Tokens the fake reviewer knows.
const (
	runtimeToken  = "runtime-token"
	strangerToken = "stranger-token"
)

// fakeReviewer authenticates the tokens it lists.
type fakeReviewer struct {
	mu     sync.Mutex
	users  map[string]string // token -> username
	err    error
	calls  int
	tokens []string
}

func newFakeReviewer() *fakeReviewer {
	return &fakeReviewer{users: map[string]string{
		runtimeToken:  serviceAccountUser("orkestra-system", "orkestra-runtime"),
		strangerToken: serviceAccountUser("default", "stranger"),
	}}
}

func (f *fakeReviewer) Review(_ context.Context, token, audience string) (TokenStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.tokens = append(f.tokens, token)
	if f.err != nil {
		return TokenStatus{}, f.err
	}
	if u, ok := f.users[token]; ok {
		// Tokens the fake knows carry the gateway's audience.
		return TokenStatus{Authenticated: true, Username: u, Audiences: []string{audience}}, nil
	}
	return TokenStatus{Error: "invalid bearer token"}, nil
}

func (f *fakeReviewer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// compile runs the check pass on a Katalog and returns its notification
// policy, failing on any error finding.
func compile(t testing.TB, katalog string) *policy.Notification {
	t.Helper()
	path := filepath.Join(t.TempDir(), "katalog.yaml")
	if err := os.WriteFile(path, []byte(katalog), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := check.RunFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Policy == nil || res.Errors() > 0 {
		var b strings.Builder
		for _, f := range res.Findings {
			b.WriteString(f.String() + "\n")
		}
		t.Fatalf("the test Katalog has errors:\n%s", b.String())
	}
	return res.Policy.Notification
}

const katalogHead = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: shop
`

// harness is a Server behind an httptest server, with the Slack fake, a
// fake TokenReviewer and a test clock.
type harness struct {
	t        *testing.T
	srv      *Server
	http     *httptest.Server
	slack    *notifytest.Slack
	reviewer *fakeReviewer
	clock    *testenv.Clock // throttling
	reg      *metrics.Registry
	logs     *testenv.Buffer
	env      map[string]string
}

type harnessOptions struct {
	// Katalog is the notification block (and anything after it); $SLACK_API
	// and $HOOK(name) are replaced with the fake's URLs.
	Katalog string
	Env     map[string]string
	Modify  func(*Options)
	// Shared builds the cross-replica throttle with the harness's metrics
	// registry and logger.
	Shared  func(reg *metrics.Registry, log *slog.Logger) SharedThrottle
	NoStart bool // leave the workers stopped
}

// metrics are the harness's collectors, registered once on its registry.
func (h *harness) metrics() *Metrics {
	m := NewMetrics()
	h.reg.MustRegister(m)
	return m
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, slack: notifytest.NewSlack(t, "xoxb-test-token"), reviewer: newFakeReviewer(),
		clock: testenv.NewClock(t0), reg: metrics.NewRegistry(), logs: &testenv.Buffer{}}
	h.env = map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-test-token",
		"PLATFORM_HOOK":   h.slack.WebhookURL("platform-secret-path"),
		"OPS_HOOK":        h.slack.WebhookURL("ops-secret-path"),
	}
	for k, v := range o.Env {
		h.env[k] = v
	}
	text := strings.ReplaceAll(katalogHead+o.Katalog, "$SLACK_API", h.slack.APIURL())
	opts := Options{
		Policy:   compile(t, text),
		Reviewer: h.reviewer,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  h.metrics(),
		Getenv:   func(k string) string { return h.env[k] },
		Now:      h.clock.Now,
		Backoff:  Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		Workers:  2,
		// 429s at once; TestCallerRateLimit holds them as the gateway does.
		RefusalDelay: -1,
	}
	if o.Shared != nil {
		opts.Shared = o.Shared(h.reg, opts.Logger)
	}
	if o.Modify != nil {
		o.Modify(&opts)
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	if !o.NoStart {
		srv.Start()
	}
	h.http = httptest.NewServer(srv.handler())
	t.Cleanup(func() {
		h.http.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = srv.Drain(ctx)
		if t.Failed() {
			t.Logf("notify logs:\n%s", h.logs.String())
		}
	})
	return h
}

// slackKatalog: platform posts to an incoming webhook with a template;
// ops posts to a channel with chat.postMessage.
const slackKatalog = `notification:
  allowedCallers: [orkestra-system/orkestra-runtime]
  defaults:
    interval: 10m
  slack:
    botTokenFrom: {env: SLACK_BOT_TOKEN}
    apiURL: $SLACK_API
  teams:
    platform:
      slackWebhookURLFrom: {env: PLATFORM_HOOK}
      message: "{{ .crNamespace }}/{{ .crName }}: {{ .subject }}"
    ops:
      slack: ["#ops"]
      interval: 1m
`

// eventBody returns a valid event body for team, with overrides.
func eventBody(team string, kv ...any) map[string]any {
	ev := map[string]any{
		"katalogName": "shop", "crName": "web-1", "crNamespace": "web",
		"gvk": "web.example.com/v1/Website", "condKey": "Ready=False",
		"teamName": team, "subject": "web-1 is not ready", "severity": "warning",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(ev, k)
		} else {
			ev[k] = kv[i+1]
		}
	}
	return ev
}

type response struct {
	code int
	hdr  http.Header
	ans  answer
	raw  string
}

// post sends body (marshalled unless it is a string or []byte) to /notify.
func (h *harness) post(token string, body any, query string) response {
	h.t.Helper()
	return h.do(http.MethodPost, token, "application/json", body, query)
}

func (h *harness) do(method, token, contentType string, body any, query string) response {
	h.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			h.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, h.http.URL+"/notify"+query, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{code: resp.StatusCode, hdr: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.ans); err != nil {
		h.t.Fatalf("%s /notify answered %d with a body that is not JSON: %q", method, resp.StatusCode, raw)
	}
	return r
}

func (r response) want(t *testing.T, code int) response {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.raw)
	}
	return r
}

// waitIdle waits until every queue is empty.
func (h *harness) waitIdle(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for h.srv.pending() > 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d deliveries still pending after %s", h.srv.pending(), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errAPIDown = errors.New("connection refused")

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
