package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A request in flight finishes; an opened but unused connection does not
// hold shutdown for the 5 s http.Server.Shutdown would wait.
func TestInflightStop(t *testing.T) {
	var f inflight
	release := make(chan struct{})
	srv := &http.Server{Handler: f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "done")
	}))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()

	idle, err := net.Dial("tcp", ln.Addr().String()) // opened, never used
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	for f.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- f.stop(context.Background(), srv) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("stop returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("the in-flight request got %q", body)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	// Not a timing threshold on the machine: the unused connection must not
	// cost Shutdown's fixed 5 s wait.
	if d := time.Since(start); d >= 5*time.Second {
		t.Fatalf("stop took %s: it waited for the unused connection", d)
	}
}
