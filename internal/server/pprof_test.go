package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// profileStrings decompresses a profile (gzipped protobuf) and reports
// whether its string table holds every one of want.
func profileStrings(t *testing.T, body []byte, want ...string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not a gzipped profile: %v (%q)", err, body[:min(len(body), 64)])
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !bytes.Contains(raw, []byte(w)) {
			t.Errorf("profile lacks %q", w)
		}
	}
}

func TestPprofHandler(t *testing.T) {
	srv := httptest.NewServer(pprofHandler())
	defer srv.Close()
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, body := get("/debug/pprof/"); code != 200 || !strings.Contains(string(body), "goroutine (") || !strings.Contains(string(body), "heap (") {
		t.Errorf("index: %d %s", code, body)
	}
	code, body := get("/debug/pprof/heap?gc=1")
	if code != 200 {
		t.Fatalf("heap: %d %s", code, body)
	}
	profileStrings(t, body, "inuse_space", "alloc_objects")
	if code, body := get("/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(string(body), "goroutine profile: total") {
		t.Errorf("goroutine text: %d %s", code, body)
	}
	code, body = get("/debug/pprof/profile?seconds=1")
	if code != 200 {
		t.Fatalf("CPU profile: %d %s", code, body)
	}
	profileStrings(t, body, "samples", "cpu", "nanoseconds")
	for path, want := range map[string]int{
		"/debug/pprof/nope":                 http.StatusNotFound,
		"/debug/pprof/heap?debug=7":         http.StatusBadRequest,
		"/debug/pprof/profile?seconds=0":    http.StatusBadRequest,
		"/debug/pprof/profile?seconds=x":    http.StatusBadRequest,
		"/debug/pprof/profile?seconds=3600": http.StatusBadRequest,
		"/metrics":                          http.StatusNotFound,
	} {
		if code, body := get(path); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}
}

// FuzzPprofAddress: no panic; without the opt-in only a loopback host:port
// is accepted, with a port in range.
func FuzzPprofAddress(f *testing.F) {
	for _, s := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:6060", "0.0.0.0:6060", ":6060", "10.0.0.1:1", "127.0.0.1", "[::ffff:127.0.0.1]:80", "127.0.0.1:0"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, addr string, remote bool) {
		err := checkPprofAddress(addr, remote)
		if err != nil {
			return
		}
		host, port, perr := net.SplitHostPort(addr)
		if perr != nil || parsePort(port) != nil {
			t.Fatalf("accepted %q", addr)
		}
		if !remote {
			ip := net.ParseIP(host)
			if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				t.Fatalf("accepted %q without the opt-in", addr)
			}
		}
	})
}
