package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An unauthenticated token flood: 64 connections send 5,000 distinct bogus
// tokens for 20 s while the maintenance tick runs every second. Readiness
// must stay 200 throughout, every tick must succeed, and the allowed
// caller's events (from another address, as another pod's would be) must
// each be accepted within a second.
func TestNotifyTokenFlood(t *testing.T) {
	n := startNotifyGateway(t, "--sync-interval", "1s")
	runtime := callerToken(t, "orkestra-system", "orkestra-runtime")
	// Warm the allowed caller's path once.
	n.mustPost(t, runtime, "", notifyEvent("flood-warm"), http.StatusAccepted)

	syncErrorsBefore, syncOKBefore := syncCounts(t, n.gateway)

	const (
		conns    = 64
		distinct = 5000
		duration = 20 * time.Second
	)
	tokens := make([]string, distinct)
	for i := range tokens {
		b := make([]byte, 48)
		_, _ = rand.Read(b)
		// Shaped like a JWT, so the API server tries to verify it.
		tokens[i] = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZsb29kIn0." + base64.RawURLEncoding.EncodeToString(b) + ".c2lnbmF0dXJl"
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(gatewaySecret(t).Data["ca.crt"])
	floodClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns,
	}}
	body, _ := json.Marshal(notifyEvent("flood"))

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var sent atomic.Int64
	var codes sync.Map // status -> *atomic.Int64
	count := func(code int) {
		v, _ := codes.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := sent.Add(1)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tokens[i%distinct])
				resp, err := floodClient.Do(req)
				if err != nil {
					count(0)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count(resp.StatusCode)
			}
		}()
	}

	// The allowed caller, from 127.0.0.2, twice a second; readiness sampled
	// every 100 ms.
	var problems []string
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	wg.Add(2)
	var readySamples, accepted atomic.Int64
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if code, body := n.probe("/readyz"); code != http.StatusOK {
				fail("/readyz %d %s at %s", code, strings.TrimSpace(body), time.Now().Format("15:04:05.000"))
			}
			readySamples.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		c := &http.Client{Timeout: time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
		}}
		for i := 0; ctx.Err() == nil; i++ {
			b, _ := json.Marshal(notifyEvent("allowed-" + strconv.Itoa(i)))
			req, _ := http.NewRequest(http.MethodPost, n.url, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+runtime)
			start := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				fail("allowed event %d: %v (after %s)", i, err, time.Since(start).Round(time.Millisecond))
			} else {
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					fail("allowed event %d: %d %s", i, resp.StatusCode, strings.TrimSpace(string(raw)))
				} else {
					accepted.Add(1)
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	wg.Wait()

	var summary []string
	codes.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%v: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("flood: %d requests (%s); %d readiness samples; %d allowed events accepted", sent.Load(), strings.Join(summary, ", "), readySamples.Load(), accepted.Load())

	syncErrors, syncOK := syncCounts(t, n.gateway)
	t.Logf("maintenance ticks during the flood: %v ok, %v failed", syncOK-syncOKBefore, syncErrors-syncErrorsBefore)
	if syncErrors != syncErrorsBefore {
		fail("%v maintenance ticks failed during the flood", syncErrors-syncErrorsBefore)
	}
	if syncOK-syncOKBefore < 5 {
		fail("only %v maintenance ticks succeeded in %s at a 1s interval", syncOK-syncOKBefore, duration)
	}
	if len(problems) > 0 {
		t.Errorf("under the token flood:\n  %s", strings.Join(problems, "\n  "))
	}
	if strings.Contains(n.proc.Logs(), tokens[0][40:]) {
		t.Error("a flood token reached the logs")
	}
}

var syncLine = regexp.MustCompile(`(?m)^orkestra_gateway_registration_syncs_total\{result="(success|error)"\} (\S+)$`)

// syncCounts reads the maintenance tick counters from /metrics.
func syncCounts(t *testing.T, g *gateway) (errors, ok float64) {
	t.Helper()
	code, body := g.probe("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, m := range syncLine.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		if m[1] == "success" {
			ok = v
		} else {
			errors = v
		}
	}
	return errors, ok
}

// callerToken is the token a notify caller sends: a projected token for
// the gateway's audience.
func callerToken(t *testing.T, namespace, name string) string {
	return saToken(t, namespace, name)
}
