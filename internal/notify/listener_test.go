package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
)

// The listener as package server runs it: HTTPServer with the gateway's
// certificate holder, ServeTLS, then on SIGTERM Drain and Shutdown.
func TestHTTPServerLifecycle(t *testing.T) {
	m, err := certs.Generate([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := certs.NewHolder(m)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	srv := h.srv.HTTPServer(holder.TLSConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(holder.CABundle())
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
	url := fmt.Sprintf("https://%s/notify", ln.Addr())
	post := func(crName, query string) *http.Response {
		t.Helper()
		body := fmt.Sprintf(`{"katalogName":"shop","crName":%q,"gvk":"v1/ConfigMap","condKey":"x","teamName":"platform","subject":"s","severity":"info"}`, crName)
		req, _ := http.NewRequest(http.MethodPost, url+query, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+runtimeToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post("a", "?wait=true")
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Errorf("over TLS: %d %s, want 200 over HTTP/1.1", resp.StatusCode, resp.Proto)
	}

	// SIGTERM with a delivery still retrying: Drain delivers it, new
	// events get 503 meanwhile, then the listener shuts down.
	h.slack.Down(notifytest.Answer{Status: http.StatusBadGateway})
	if resp := post("b", ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("queue: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- h.srv.Drain(ctx) }()
	time.Sleep(50 * time.Millisecond)
	if resp := post("c", ""); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("while draining: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	h.slack.Up()
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if n := len(h.slack.Delivered()); n != 2 {
		t.Errorf("delivered %d, want 2", n)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("ServeTLS: %v", err)
	}
}
