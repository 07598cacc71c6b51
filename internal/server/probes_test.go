package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func readyz(r *readiness) (int, string) {
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return w.Code, w.Body.String()
}

// /readyz says which condition is false and nothing else: the API server's
// error behind it (which names resources, users and permissions) goes to
// the log, never to the unauthenticated probe port.
func TestReadyzNeverEchoesAPIServerErrors(t *testing.T) {
	const secret = `validatingwebhookconfigurations "orkestra-gateway-x" is forbidden: User "system:serviceaccount:ns:gw" cannot get resource`
	client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	client.PrependReactor("*", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(secret)
	})
	g := &Gateway{
		log: slog.New(slog.DiscardHandler), ready: newReadiness(nil), metrics: newMetrics(buildinfo.Read("", "")), client: client,
		policy: &policy.Policy{Name: "x", DeletionProtection: policy.DeletionProtection{Endpoint: policy.Endpoint{Enabled: true}}},
		tls:    &tlsState{},
	}
	if code, body := readyz(g.ready); code != 503 || body != "not ready: starting\n" {
		t.Errorf("at start: %d %q", code, body)
	}
	err := g.sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("sync = %v, want the API server's error (for the log)", err)
	}
	code, body := readyz(g.ready)
	if code != 503 || body != "not ready: registrations not applied\n" {
		t.Errorf("/readyz %d %q, want the condition alone", code, body)
	}
	g.ready.set("")
	if code, body := readyz(g.ready); code != 200 || body != "ok\n" {
		t.Errorf("ready: %d %q", code, body)
	}
}
