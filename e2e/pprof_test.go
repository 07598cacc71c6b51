package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const pprofKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: {{NAME}}
gateway:
  url: "{{URL}}"
security:
  deletionProtection:
    enabled: true
`

// getProfile fetches a profile from the pprof listener and returns the
// decompressed protobuf.
func getProfile(t *testing.T, port int, path string) []byte {
	t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: not a gzipped profile: %v", path, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestPprof: with --pprof-address on loopback the gateway serves a CPU
// profile (and the heap) on its own listener, not on the probe port; a
// non-loopback address without --pprof-allow-remote is a start-up error,
// by flag or by environment; with the opt-in it starts.
func TestPprof(t *testing.T) {
	removeOtherRegistrations(t, "")
	port := freePort(t)
	g := startGateway(t, gatewayOptions{
		Katalog: strings.ReplaceAll(pprofKatalog, "{{NAME}}", "pprof"),
		Args:    []string{"--pprof-address", fmt.Sprintf("127.0.0.1:%d", port)},
	})
	cpu := getProfile(t, port, "/debug/pprof/profile?seconds=1")
	for _, want := range []string{"samples", "cpu", "nanoseconds"} {
		if !bytes.Contains(cpu, []byte(want)) {
			t.Errorf("the CPU profile lacks %q", want)
		}
	}
	if heap := getProfile(t, port, "/debug/pprof/heap"); !bytes.Contains(heap, []byte("inuse_space")) {
		t.Error("the heap profile lacks inuse_space")
	}
	if code, _ := g.probe("/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("the probe port serves profiles too (%d)", code)
	}
	if !strings.Contains(g.proc.Logs(), `"msg":"serving profiles"`) {
		t.Errorf("no log line says profiles are served:\n%s", g.proc.Logs())
	}

	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"--pprof-address", fmt.Sprintf("0.0.0.0:%d", freePort(t))}, nil},
		{"environment", nil, []string{fmt.Sprintf("PPROF_ADDRESS=:%d", freePort(t))}},
	} {
		t.Run("remote refused by "+tc.name, func(t *testing.T) {
			g := startGateway(t, gatewayOptions{Katalog: strings.ReplaceAll(pprofKatalog, "{{NAME}}", "pprof-remote"), Args: tc.args, Env: tc.env, NoWait: true})
			code, err := g.proc.Wait(30 * time.Second)
			if err != nil || code != 2 {
				t.Fatalf("exit %d (%v), want 2\n%s", code, err, g.proc.Logs())
			}
			if !strings.Contains(g.proc.Logs(), "which is not a loopback address") || !strings.Contains(g.proc.Logs(), "--pprof-allow-remote") {
				t.Errorf("the error does not say why and what to do:\n%s", g.proc.Logs())
			}
		})
	}
	t.Run("remote allowed", func(t *testing.T) {
		removeOtherRegistrations(t, "")
		port := freePort(t)
		startGateway(t, gatewayOptions{
			Katalog: strings.ReplaceAll(pprofKatalog, "{{NAME}}", "pprof-allowed"),
			Args:    []string{"--pprof-address", fmt.Sprintf("0.0.0.0:%d", port)},
			Env:     []string{"PPROF_ALLOW_REMOTE=true"},
		})
		if heap := getProfile(t, port, "/debug/pprof/heap"); len(heap) == 0 {
			t.Error("empty heap profile")
		}
	})
}
