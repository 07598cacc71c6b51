package notify

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Connections beyond the per-address cap are closed at accept; closing one
// makes room again.
func TestListenerCapsConnections(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) { o.MaxConnsPerAddress = 2 }})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := h.srv.Listener(raw)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1, c2 := dial(), dial()
	s1, s2 := <-accepted, <-accepted
	c3 := dial()
	// The third is closed by the listener: a read sees EOF.
	_ = c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c3.Read(make([]byte, 1)); err == nil {
		t.Error("the connection over the cap was not closed")
	}
	select {
	case <-accepted:
		t.Error("a connection over the cap was handed to the server")
	default:
	}
	if got := h.srv.m.limited.WithLabelValues(limitConnection).Value(); got != 1 {
		t.Errorf("limited{connection} = %v", got)
	}
	s1.Close()
	c4 := dial()
	select {
	case s4 := <-accepted:
		s4.Close()
	case <-time.After(5 * time.Second):
		t.Error("no room after a connection closed")
	}
	for _, c := range []net.Conn{c1, c2, c3, c4, s2} {
		c.Close()
	}
}

// Refusals anyone can cause are logged at a bounded rate; the rest are
// counted.
func TestRefusalLogsAreRateLimited(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) { o.Auth.FailureBurst = 1000 }})
	for i := range 100 {
		h.post("bogus-"+strconv.Itoa(i), eventBody("platform"), "").want(t, http.StatusUnauthorized)
	}
	lines := strings.Count(h.logs.String(), "notify caller refused")
	dropped := h.srv.m.logsDropped.Value()
	if lines > 30 || dropped < 70 || float64(lines)+dropped != 100 {
		t.Errorf("100 refusals: %d logged, %v dropped", lines, dropped)
	}
}
