package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The hostile-input corpus: e2e/testdata/hostile/*.yaml, a list of requests
// per file, each replayed against the real gateway binary in its sandbox.
// An entry is pure data, so a request for any listener (webhook, notify,
// probe) is added without code:
//
//	- name: declared 60 MiB, 10 bytes sent     # unique within the corpus
//	  listener: webhook                        # webhook (8443, TLS) | notify (8444, TLS) | probe (8080)
//	  auth: token                              # none (default) | token: a valid token of an allowed caller
//	  tls: {plain: true}                       # the client side of TLS (below)
//	  method: POST                             # default POST
//	  path: /validate                          # default /
//	  proto: HTTP/1.1                          # the request line's protocol, default HTTP/1.1
//	  headers: ["Content-Type: application/json"]  # sent as written, in order (Host is added unless given)
//	  body: '{"apiVersion": ...}'              # the body, or:
//	  generate: {prefix: '[', repeat: '[', count: 100000, suffix: ''}
//	  contentLength: 62914560                  # the declared length (default: the body's; -1: none)
//	  chunked: true                            # Transfer-Encoding: chunked, the body in 32 KiB chunks
//	  send: 10                                 # send only the first bytes of the body, then wait
//	  slow: 200ms                              # pause between bytes of the whole request
//	  raw: "GET / HTTP/1.0\r\n\r\n"            # instead of all of the above: these exact bytes
//	  expect:
//	    status: 413                            # the HTTP status, or:
//	    outcome: closed                        # handshake (TLS refused) | closed (no answer) | pending (no answer yet, connection open)
//	                                           # | ended (closed, or 400 or 408: a timeout races with its answer)
//	    contains: larger than                  # in the answer's body
//	    headers: {Retry-After: "1"}            # answer headers
//	    protocol: http/1.1                     # the ALPN protocol negotiated
//	    close: true                            # the server closes the connection after the answer
//	  memory: 64Mi                             # the gateway's peak RSS after the entry stays under this
//
// tls: {plain: true} speaks plain TCP to a TLS port; {maxVersion: "1.1"},
// {ciphers: [TLS_..._CBC_SHA]} and {alpn: [h2]} shape the client's hello.
// Placeholders in body and raw: {{HOST}} (127.0.0.1:port).
//
// Entries run one after the other in the order of their memory bounds,
// except slow ones (slow, or pending), which run alongside. After the
// corpus the gateway must be alive and ready, answer a normal review, and
// have logged no panic.

type hostileEntry struct {
	Name          string        `yaml:"name"`
	Listener      string        `yaml:"listener"`
	Auth          string        `yaml:"auth"`
	TLS           *hostileTLS   `yaml:"tls"`
	Method        string        `yaml:"method"`
	Path          string        `yaml:"path"`
	Proto         string        `yaml:"proto"`
	Headers       []string      `yaml:"headers"`
	PadHeaders    *hostilePad   `yaml:"padHeaders"`
	PadPath       int           `yaml:"padPath"`
	Body          string        `yaml:"body"`
	Generate      *hostileGen   `yaml:"generate"`
	ContentLength *int64        `yaml:"contentLength"`
	Chunked       bool          `yaml:"chunked"`
	Send          *int          `yaml:"send"`
	Slow          string        `yaml:"slow"`
	SlowBody      bool          `yaml:"slowBody"`
	Raw           string        `yaml:"raw"`
	Expect        hostileExpect `yaml:"expect"`
	Memory        string        `yaml:"memory"`
	file          string        // where it was read
	bound         int64         // Memory, parsed
	pause         time.Duration // Slow, parsed
	tlsConfig     *tls.Config   // nil: plain
}

type hostileTLS struct {
	Plain      bool     `yaml:"plain"`
	MaxVersion string   `yaml:"maxVersion"`
	Ciphers    []string `yaml:"ciphers"`
	ALPN       []string `yaml:"alpn"`
}

type hostilePad struct {
	Count int `yaml:"count"`
	Size  int `yaml:"size"`
}

type hostileGen struct {
	Prefix string       `yaml:"prefix"`
	Repeat string       `yaml:"repeat"`
	Count  int          `yaml:"count"`
	Suffix string       `yaml:"suffix"`
	Then   []hostileGen `yaml:"then"` // more segments, appended in order
}

func (g *hostileGen) write(b *bytes.Buffer) {
	b.WriteString(g.Prefix)
	for range g.Count {
		b.WriteString(g.Repeat)
	}
	b.WriteString(g.Suffix)
	for i := range g.Then {
		g.Then[i].write(b)
	}
}

type hostileExpect struct {
	Status   int               `yaml:"status"`
	Outcome  string            `yaml:"outcome"`
	Contains string            `yaml:"contains"`
	Headers  map[string]string `yaml:"headers"`
	Protocol string            `yaml:"protocol"`
	Close    bool              `yaml:"close"`
}

const (
	corpusDir     = "testdata/hostile"
	defaultMemory = "64Mi"
)

// loadCorpus reads every file of the corpus strictly: an unknown field or
// an entry without an expectation is an error, not a silent default.
func loadCorpus(t *testing.T) []*hostileEntry {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", corpusDir, err)
	}
	var all []*hostileEntry
	names := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		var entries []*hostileEntry
		if err := dec.Decode(&entries); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, e := range entries {
			e.file = filepath.Base(f)
			if err := e.check(); err != nil {
				t.Fatalf("%s entry %d (%q): %v", f, i, e.Name, err)
			}
			if prev, dup := names[e.Name]; dup {
				t.Fatalf("%s: entry %q is also in %s", f, e.Name, prev)
			}
			names[e.Name] = e.file
			all = append(all, e)
		}
	}
	return all
}

func (e *hostileEntry) check() error {
	if e.Name == "" {
		return errors.New("no name")
	}
	switch e.Listener {
	case "webhook", "notify", "probe":
	default:
		return fmt.Errorf("listener %q is not webhook, notify or probe", e.Listener)
	}
	switch e.Auth {
	case "", "none", "token":
	default:
		return fmt.Errorf("auth %q is not none or token", e.Auth)
	}
	if (e.Expect.Status == 0) == (e.Expect.Outcome == "") {
		return errors.New("expect needs exactly one of status and outcome")
	}
	switch e.Expect.Outcome {
	case "", "handshake", "closed", "pending", "ended":
	default:
		return fmt.Errorf("outcome %q is not handshake, closed, pending or ended", e.Expect.Outcome)
	}
	if e.Raw != "" && (e.Method != "" || e.Path != "" || e.Body != "" || e.Generate != nil || len(e.Headers) > 0 || e.Chunked || e.ContentLength != nil || e.PadHeaders != nil || e.PadPath > 0) {
		return errors.New("raw excludes method, path, headers and body")
	}
	if e.Body != "" && e.Generate != nil {
		return errors.New("body and generate exclude each other")
	}
	if e.Memory == "" {
		e.Memory = defaultMemory
	}
	q, err := resource.ParseQuantity(e.Memory)
	if err != nil {
		return fmt.Errorf("memory: %v", err)
	}
	e.bound = q.Value()
	if e.Slow != "" {
		if e.pause, err = time.ParseDuration(e.Slow); err != nil {
			return fmt.Errorf("slow: %v", err)
		}
	}
	if e.SlowBody && (e.pause == 0 || e.Raw != "") {
		return errors.New("slowBody needs slow and a body that is not raw")
	}
	plain := e.Listener == "probe" || (e.TLS != nil && e.TLS.Plain)
	if e.TLS != nil && e.Listener == "probe" {
		return errors.New("tls options on the plain probe listener")
	}
	if !plain {
		cfg := &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10}
		if e.TLS != nil {
			switch e.TLS.MaxVersion {
			case "":
			case "1.0":
				cfg.MaxVersion = tls.VersionTLS10
			case "1.1":
				cfg.MaxVersion = tls.VersionTLS11
			case "1.2":
				cfg.MaxVersion = tls.VersionTLS12
			default:
				return fmt.Errorf("tls.maxVersion %q", e.TLS.MaxVersion)
			}
			for _, name := range e.TLS.Ciphers {
				id, ok := cipherByName(name)
				if !ok {
					return fmt.Errorf("unknown cipher suite %s", name)
				}
				cfg.CipherSuites = append(cfg.CipherSuites, id)
			}
			cfg.NextProtos = e.TLS.ALPN
		}
		e.tlsConfig = cfg
	}
	return nil
}

func cipherByName(name string) (uint16, bool) {
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if c.Name == name {
			return c.ID, true
		}
	}
	return 0, false
}

// slow entries take seconds (timeouts of the server, or waiting to see
// that no answer comes): they run alongside the others.
func (e *hostileEntry) slow() bool { return e.pause > 0 || e.Expect.Outcome == "pending" }

// hostileTarget is the gateway the corpus runs against.
type hostileTarget struct {
	g     *gateway
	ca    []byte
	token string
}

func (h *hostileTarget) port(listener string) int {
	switch listener {
	case "webhook":
		return h.g.webhookPort
	case "notify":
		return h.g.notifyPort
	}
	return h.g.probePort
}

// request is the bytes of e's request, and where its body starts.
func (h *hostileTarget) request(e *hostileEntry) (msg []byte, bodyAt int) {
	host := "127.0.0.1:" + strconv.Itoa(h.port(e.Listener))
	fill := func(s string) string { return strings.ReplaceAll(s, "{{HOST}}", host) }
	if e.Raw != "" {
		return []byte(fill(e.Raw)), -1
	}
	body := []byte(fill(e.Body))
	if g := e.Generate; g != nil {
		var b bytes.Buffer
		g.write(&b)
		body = b.Bytes()
	}
	method, path, proto := e.Method, e.Path, e.Proto
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/"
	}
	if proto == "" {
		proto = "HTTP/1.1"
	}
	if e.PadPath > 0 {
		path += "?pad=" + strings.Repeat("p", e.PadPath)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", method, path, proto)
	hasHost := slices.ContainsFunc(e.Headers, func(h string) bool { return strings.HasPrefix(strings.ToLower(h), "host:") })
	if !hasHost {
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	for _, hd := range e.Headers {
		b.WriteString(fill(hd) + "\r\n")
	}
	if p := e.PadHeaders; p != nil {
		for i := range p.Count {
			fmt.Fprintf(&b, "X-Pad-%d: %s\r\n", i, strings.Repeat("h", p.Size))
		}
	}
	if e.Auth == "token" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", h.token)
	}
	switch {
	case e.Chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case e.ContentLength != nil && *e.ContentLength >= 0:
		fmt.Fprintf(&b, "Content-Length: %d\r\n", *e.ContentLength)
	case e.ContentLength == nil && (len(body) > 0 || method == http.MethodPost || method == http.MethodPut):
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	bodyAt = b.Len()
	if e.Chunked {
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			fmt.Fprintf(&b, "%x\r\n", n)
			b.Write(rest[:n])
			b.WriteString("\r\n")
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
	} else {
		b.Write(body)
	}
	return b.Bytes(), bodyAt
}

// result is what one entry got.
type hostileResult struct {
	status   int
	outcome  string // handshake, closed, pending, or "" with a status
	body     string
	header   http.Header
	protocol string
	close    bool // Connection: close
	err      error
}

func (r hostileResult) String() string {
	if r.outcome != "" {
		s := r.outcome
		if r.err != nil {
			s += " (" + r.err.Error() + ")"
		}
		return s
	}
	return fmt.Sprintf("%d %q", r.status, clipText(r.body, 200))
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// run sends one entry and reads the answer.
func (h *hostileTarget) run(e *hostileEntry) hostileResult {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port(e.Listener)))
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return hostileResult{outcome: "closed", err: err}
	}
	defer raw.Close()
	conn := raw
	var res hostileResult
	if e.tlsConfig != nil {
		cfg := e.tlsConfig.Clone()
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(h.ca)
		tc := tls.Client(raw, cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return hostileResult{outcome: "handshake", err: err}
		}
		_ = tc.SetDeadline(time.Time{})
		res.protocol = tc.ConnectionState().NegotiatedProtocol
		conn = tc
	}

	msg, bodyAt := h.request(e)
	if e.Send != nil && bodyAt >= 0 {
		msg = msg[:min(len(msg), bodyAt+*e.Send)]
	}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if e.pause > 0 {
			start := 0
			if e.SlowBody && bodyAt >= 0 {
				if _, err := conn.Write(msg[:bodyAt]); err != nil {
					return
				}
				start = bodyAt
			}
			for i := start; i < len(msg); i++ {
				if _, err := conn.Write(msg[i : i+1]); err != nil {
					return
				}
				time.Sleep(e.pause)
			}
			return
		}
		// The server may answer and close before the body is sent: a write
		// error is expected then.
		_, _ = conn.Write(msg)
	}()

	wait := 15 * time.Second
	switch {
	case e.Expect.Outcome == "pending":
		wait = 2 * time.Second
	case e.pause > 0:
		wait = 45 * time.Second
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode == http.StatusContinue { // as a client does
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			res.outcome = "pending"
		} else {
			res.outcome, res.err = "closed", err
		}
		conn.Close() // ends the writer
		<-wrote
		return res
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	conn.Close()
	<-wrote
	res.status, res.body, res.header, res.close = resp.StatusCode, string(b), resp.Header, resp.Close
	return res
}

func (e *hostileEntry) verify(r hostileResult) error {
	x := e.Expect
	if x.Outcome == "ended" {
		if r.outcome == "closed" || r.status == http.StatusBadRequest || r.status == http.StatusRequestTimeout {
			return nil
		}
		return fmt.Errorf("got %s, want the connection ended (closed, 400 or 408)", r)
	}
	if x.Outcome != "" {
		if r.outcome != x.Outcome {
			return fmt.Errorf("got %s, want %s", r, x.Outcome)
		}
		return nil
	}
	if r.outcome != "" || r.status != x.Status {
		return fmt.Errorf("got %s, want %d", r, x.Status)
	}
	if x.Contains != "" && !strings.Contains(r.body, x.Contains) {
		return fmt.Errorf("answer %s lacks %q", r, x.Contains)
	}
	for k, v := range x.Headers {
		if got := r.header.Get(k); got != v {
			return fmt.Errorf("header %s: %q, want %q (answer %s)", k, got, v, r)
		}
	}
	if x.Close && !r.close {
		return fmt.Errorf("answer %s does not close the connection", r)
	}
	if x.Protocol != "" && r.protocol != x.Protocol {
		return fmt.Errorf("negotiated %q, want %q", r.protocol, x.Protocol)
	}
	return nil
}

// TestHostileInputs replays the corpus against the real gateway.
func TestHostileInputs(t *testing.T) {
	entries := loadCorpus(t)
	counts := map[string]int{}
	for _, e := range entries {
		counts[e.Listener]++
	}
	t.Logf("%d entries: %v", len(entries), counts)
	// Well under a third of the bundle's limit: a hostile request must not
	// move the gateway far from its idle size.
	g := hostileGateway(t, "GOMEMLIMIT=115MiB")
	h := &hostileTarget{g: g, ca: gatewaySecret(t).Data["ca.crt"], token: saToken(t, gatewayNamespace, hostileCaller)}
	before := g.memory(t)
	t.Logf("idle: RSS %s", mib(before.rss))

	// The bound of an entry is on the peak RSS since the start (VmHWM), so
	// entries run in the order of their bounds: a large legitimate request
	// comes after every hostile one it could hide. Slow entries run
	// alongside those whose bound is no larger than theirs, and their
	// bound is checked once they are all done.
	var fast, slow []*hostileEntry
	for _, e := range entries {
		if e.slow() {
			slow = append(slow, e)
		} else {
			fast = append(fast, e)
		}
	}
	slices.SortStableFunc(fast, func(a, b *hostileEntry) int { return cmp.Compare(a.bound, b.bound) })
	var slowBound int64
	var wg sync.WaitGroup
	for _, e := range slow {
		slowBound = max(slowBound, e.bound)
		wg.Go(func() {
			if err := e.verify(h.run(e)); err != nil {
				t.Errorf("%s: %s: %v", e.file, e.Name, err)
			}
		})
	}
	waitSlow := func() {
		wg.Wait()
		m := g.memory(t)
		for _, e := range slow {
			if m.peak > e.bound {
				t.Errorf("%s: %s (slow): peak RSS %s exceeds %s", e.file, e.Name, mib(m.peak), e.Memory)
			}
		}
		slow = nil
	}
	for _, e := range fast {
		if slow != nil && e.bound > slowBound {
			waitSlow()
		}
		r := h.run(e)
		if err := e.verify(r); err != nil {
			t.Errorf("%s: %s: %v", e.file, e.Name, err)
		}
		m := g.memory(t)
		if m.peak > e.bound {
			t.Errorf("%s: %s: peak RSS %s exceeds %s", e.file, e.Name, mib(m.peak), e.Memory)
		}
		if e.Memory != defaultMemory {
			t.Logf("%s: peak RSS %s so far (bound %s)", e.Name, mib(m.peak), e.Memory)
		}
		if exited(g.proc) {
			t.Fatalf("%s: %s: the gateway exited:\n%s", e.file, e.Name, g.proc.Logs())
		}
	}
	if slow != nil {
		waitSlow()
	}

	after := g.memory(t)
	t.Logf("after the corpus: RSS %s, peak %s", mib(after.rss), mib(after.peak))
	if code, body := g.probe("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d %s after the corpus", code, body)
	}
	if err := validateAnswered(t, webhookClient(t, h.ca), g.webhookPort, "after-corpus"); err != nil {
		t.Errorf("a normal review after the corpus: %v", err)
	}
	if strings.Contains(g.proc.Logs(), "panic") {
		t.Errorf("the gateway logged a panic:\n%s", g.proc.Logs())
	}
}
