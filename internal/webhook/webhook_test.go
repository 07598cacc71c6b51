package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

// echo is a review type for the tests: the request is a JSON object with
// a uid and a word; the answer repeats both. "panic" and "fail" as words
// make Answer panic or fail.
type echoReq struct {
	UID  string `json:"uid"`
	Word string `json:"word"`
}

var echo = Review[*echoReq]{
	Kind: "EchoReview",
	Decode: func(body []byte) (*echoReq, error) {
		var r echoReq
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("malformed EchoReview: %v", err)
		}
		return &r, nil
	},
	Answer: echoAnswer,
	UID:    func(r *echoReq) string { return r.UID },
	Attrs:  func(r *echoReq) []any { return []any{"uid", r.UID} },
}

func echoAnswer(_ context.Context, r *echoReq) (net.Buffers, error) {
	switch r.Word {
	case "panic":
		panic("echo bug")
	case "fail":
		return nil, errors.New("echo failed")
	}
	b, err := json.Marshal(r)
	return net.Buffers{b}, err
}

func do(h http.Handler, method, ct string, body io.Reader, length int64) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/echo", body)
	r.ContentLength = length
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func post(h http.Handler, body string) *httptest.ResponseRecorder {
	return do(h, http.MethodPost, "application/json", strings.NewReader(body), int64(len(body)))
}

func TestEnvelope(t *testing.T) {
	var logs bytes.Buffer
	m := NewMetrics(MetricsOptions{RequestsName: "r", DurationName: "d"})
	var failures []int
	h := New("echo", echo, Options{MaxBodyBytes: 64, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: m,
		OnFailure: func(code int, _ string) { failures = append(failures, code) }})
	cases := []struct {
		name, method, ct, body string
		length                 int64 // -1: chunked; 0: the body's
		code                   int
		want                   string
	}{
		{"answered", "", "", `{"uid":"1","word":"hi"}`, 0, 200, `{"uid":"1","word":"hi"}`},
		{"charset", "", "application/json; charset=UTF-8", `{"uid":"1"}`, 0, 200, `"uid":"1"`},
		{"GET", http.MethodGet, "", `{}`, 0, 405, "method GET not allowed; an EchoReview is sent with POST"},
		{"no content type", "", "-", `{}`, 0, 415, "missing Content-Type"},
		{"text", "", "text/plain", `{}`, 0, 415, `unsupported Content-Type "text/plain"`},
		{"latin1", "", "application/json; charset=latin1", `{}`, 0, 415, `unsupported charset "latin1"`},
		{"broken type", "", "application/json; =", `{}`, 0, 415, "malformed Content-Type"},
		{"gzip", "", "gzip", `{}`, 0, 415, `unsupported Content-Encoding "gzip"`},
		{"empty", "", "", ``, 0, 400, "empty body; expected an EchoReview"},
		{"malformed", "", "", `{"uid":`, 0, 400, "malformed EchoReview"},
		{"at the limit", "", "", `{"uid":"` + strings.Repeat("x", 64-10) + `"}`, 0, 200, `"uid":"xxx`},
		{"declared over the limit", "", "", `{}`, 65, 413, "EchoReview larger than 64 bytes"},
		{"chunked over the limit", "", "", strings.Repeat(" ", 65) + "{}", -1, 413, "larger than 64 bytes"},
		{"chunked at the limit", "", "", strings.Repeat(" ", 62) + "{}", -1, 200, "{"},
		{"panic", "", "", `{"uid":"p1","word":"panic"}`, 0, 500, "webhook echo failed on request p1: internal error"},
		{"error", "", "", `{"uid":"e1","word":"fail"}`, 0, 500, "echo failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			ct, encoding := tc.ct, ""
			switch ct {
			case "":
				ct = "application/json"
			case "-":
				ct = ""
			case "gzip":
				ct, encoding = "application/json", "gzip"
			}
			length := tc.length
			if length == 0 {
				length = int64(len(tc.body))
			}
			r := httptest.NewRequest(method, "/echo", strings.NewReader(tc.body))
			r.ContentLength = length
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			if encoding != "" {
				r.Header.Set("Content-Encoding", encoding)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("%d %q, want %d with %q", w.Code, w.Body, tc.code, tc.want)
			}
			if tc.code == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow %q", w.Header().Get("Allow"))
			}
			if tc.code == 200 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
			}
		})
	}
	for code, want := range map[int]float64{200: 4, 400: 2, 405: 1, 413: 2, 415: 5, 500: 2, 503: 0} {
		if got := m.Requests("echo", "", code).Value(); got != want {
			t.Errorf("requests{echo,%d} = %v, want %v", code, got, want)
		}
	}
	if len(failures) != 12 {
		t.Errorf("OnFailure called %d times, want 12: %v", len(failures), failures)
	}
	// The stack logged is the panic's, not the recovery's.
	if !strings.Contains(logs.String(), `panic="echo bug"`) || !strings.Contains(logs.String(), "webhook.echoAnswer") {
		t.Errorf("the panic is not logged with its stack:\n%s", logs.String())
	}
}

// With operations, the requests counter has the operation label: the
// series of the operations an endpoint receives exist at zero once it is
// built, a request refused before its review was read counts with an
// empty operation, and OnFailure learns the operation of a failed answer.
func TestOperationLabel(t *testing.T) {
	m := NewMetrics(MetricsOptions{RequestsName: "r", DurationName: "d", Operations: true})
	r := echo
	r.Operation = func(req *echoReq) string {
		if req.Word == "fail" {
			return "DELETE"
		}
		return "CREATE"
	}
	var failed []string
	h := New("echo", r, Options{Metrics: m, Operations: []string{"CREATE", "DELETE"},
		OnFailure: func(code int, op string) { failed = append(failed, fmt.Sprintf("%d %s", code, op)) }})
	if n := metricstest.Count(t, m, "r"); n != len(refusalCodes)+2*len(answerCodes) {
		t.Fatalf("%d series before the first request, want %d", n, len(refusalCodes)+2*len(answerCodes))
	}
	post(h, `{"uid":"1","word":"hi"}`)
	post(h, `{"uid":"2","word":"fail"}`)
	post(h, `{"uid":`)
	for _, c := range []struct {
		op   string
		code int
		want float64
	}{{"CREATE", 200, 1}, {"CREATE", 500, 0}, {"DELETE", 500, 1}, {"DELETE", 200, 0}, {"", 400, 1}, {"", 415, 0}} {
		if got := m.Requests("echo", c.op, c.code).Value(); got != c.want {
			t.Errorf("requests{echo,%q,%d} = %v, want %v", c.op, c.code, got, c.want)
		}
	}
	if want := []string{"500 DELETE", "400 "}; fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("OnFailure got %q, want %q", failed, want)
	}
}

// A body announced but not sent costs nothing: the buffer grows with the
// bytes received, never from Content-Length.
func TestAnnouncedBodyIsNotAllocated(t *testing.T) {
	h := New("echo", echo, Options{MaxBodyBytes: 64 << 20})
	body := `{"uid":"1"}`
	run := func() {
		// Declares 60 MiB, sends 11 bytes: the client lies (a server's
		// body reader would report the short body; here it ends early).
		if w := do(h, http.MethodPost, "application/json", strings.NewReader(body), 60<<20); w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	run() // warm the pool
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		run()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 64<<10 {
		t.Errorf("a request declaring 60 MiB and sending %d bytes allocated %d bytes", len(body), per)
	}
}

// slowBody sends head, then blocks until released, then sends tail.
type slowBody struct {
	head, tail []byte
	sent       chan struct{}
	release    chan struct{}
	state      int
}

func (b *slowBody) Read(p []byte) (int, error) {
	switch b.state {
	case 0:
		b.state = 1
		n := copy(p, b.head)
		b.head = b.head[n:]
		if len(b.head) > 0 {
			b.state = 0
			return n, nil
		}
		close(b.sent)
		return n, nil
	case 1:
		<-b.release
		b.state = 2
		fallthrough
	case 2:
		if len(b.tail) == 0 {
			return 0, io.EOF
		}
		n := copy(p, b.tail)
		b.tail = b.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

// The listener's budget counts the body chunks of every endpoint; a request
// that would take it past the limit is refused with 503 and Retry-After,
// before its body is read when its length is declared.
func TestBudget(t *testing.T) {
	const limit = 256 << 10
	lm := NewListenerMetrics()
	l := NewListener(ListenerOptions{MaxBytesInFlight: limit, Metrics: lm})
	a := New("a", echo, Options{MaxBodyBytes: 1 << 20, Listener: l})
	b := New("b", echo, Options{MaxBodyBytes: 1 << 20, Listener: l})

	// A slow sender holds the chunks of its first 60 KiB.
	head := []byte(`{"uid":"slow","word":"` + strings.Repeat("x", 60<<10))
	slow := &slowBody{head: head, tail: []byte(`"}`), sent: make(chan struct{}), release: make(chan struct{})}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- do(a, http.MethodPost, "application/json", slow, -1) }()
	<-slow.sent
	held := l.inFlight()
	if held < int64(len(head)) || held > 3*int64(len(head)) {
		t.Fatalf("in flight %d bytes while %d are held", held, len(head))
	}

	// One byte more than is free: refused, before reading when declared.
	big := `{"uid":"b","word":"` + strings.Repeat("y", int(limit-held)+1-len(`{"uid":"b","word":""}`)) + `"}`
	w := post(b, big)
	if w.Code != 503 || w.Header().Get("Retry-After") != retryAfterSeconds || !strings.Contains(w.Body.String(), "limit of 262144 bytes") {
		t.Errorf("a declared body over the budget: %d %q Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	// Chunked, the same body is refused when its chunks would pass it.
	w = do(b, http.MethodPost, "application/json", strings.NewReader(big), -1)
	if w.Code != 503 {
		t.Errorf("a chunked body over the budget: %d %q", w.Code, w.Body)
	}
	// A small request still fits.
	if w := post(b, `{"uid":"small"}`); w.Code != 200 {
		t.Errorf("a small request beside the slow one: %d %q", w.Code, w.Body)
	}
	if got := lm.rejected.Value(); got != 2 {
		t.Errorf("rejections = %v, want 2", got)
	}

	close(slow.release)
	if w := <-done; w.Code != 200 {
		t.Errorf("the slow request: %d %q", w.Code, w.Body)
	}
	if n := l.inFlight(); n != 0 {
		t.Errorf("%d bytes still charged after every request finished", n)
	}
	if got := lm.inFlight.Value(); got != 0 {
		t.Errorf("in-flight gauge %v after every request finished", got)
	}
	if w := post(b, big); w.Code != 200 {
		t.Errorf("the same body once the budget is free: %d %q", w.Code, w.Body)
	}
}

// Concurrent requests through one listener leave nothing charged and get
// their own answers (run with -race).
func TestBudgetConcurrent(t *testing.T) {
	l := NewListener(ListenerOptions{MaxBytesInFlight: 1 << 20})
	h := New("echo", echo, Options{MaxBodyBytes: 256 << 10, Listener: l})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				uid := fmt.Sprintf("%d-%d", w, i)
				word := strings.Repeat("z", (w*i*997)%(200<<10))
				rec := post(h, `{"uid":"`+uid+`","word":"`+word+`"}`)
				mu.Lock()
				codes[rec.Code]++
				mu.Unlock()
				if rec.Code == 200 && !strings.Contains(rec.Body.String(), `"uid":"`+uid+`"`) {
					t.Errorf("%s answered %.60s", uid, rec.Body)
				}
			}
		})
	}
	wg.Wait()
	if codes[200]+codes[503] != 320 {
		t.Errorf("codes %v", codes)
	}
	if n := l.inFlight(); n != 0 {
		t.Errorf("%d bytes charged after all requests", n)
	}
}

// A flood of malformed requests writes a bounded number of lines; the
// others are counted, and the next line logged says how many were not.
func TestBadRequestLogsAreLimited(t *testing.T) {
	var logs bytes.Buffer
	lm := NewListenerMetrics()
	l := NewListener(ListenerOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), BadRequestLogs: 1, BadRequestBurst: 5, Metrics: lm})
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	h := New("echo", echo, Options{Listener: l})
	for range 1000 {
		do(h, http.MethodGet, "", nil, 0)
	}
	if n := strings.Count(logs.String(), "\n"); n != 5 {
		t.Errorf("%d lines for 1000 bad requests, want the burst of 5", n)
	}
	if got := lm.suppressed.Value(); got != 995 {
		t.Errorf("suppressed = %v, want 995", got)
	}
	now = now.Add(time.Second)
	logs.Reset()
	do(h, http.MethodGet, "", nil, 0)
	if !strings.Contains(logs.String(), `"suppressedSinceLastLine":995`) || !strings.Contains(logs.String(), `"code":405`) {
		t.Errorf("the line after the flood: %s", logs.String())
	}
}

func TestNextChunk(t *testing.T) {
	for _, c := range []struct {
		last int
		left int64
		want int
	}{
		{0, 1 << 30, minChunk}, {minChunk, 1 << 30, 2 * minChunk}, {maxChunk / 2, 1 << 30, maxChunk},
		{maxChunk, 1 << 30, maxChunk}, {maxChunk, 10, 10}, {0, 0, 1},
	} {
		if got := nextChunk(c.last, c.left); got != c.want {
			t.Errorf("nextChunk(%d, %d) = %d, want %d", c.last, c.left, got, c.want)
		}
	}
}

// A large body is allocated twice at most (its chunks, then one exact
// copy), not the five times of a buffer grown by steps, and the copy is
// what stays charged.
func TestLargeBodyAllocatesTwice(t *testing.T) {
	l := NewListener(ListenerOptions{MaxBytesInFlight: 64 << 20})
	data := bytes.Repeat([]byte("x"), 12<<20+5)
	r := httptest.NewRequest(http.MethodPost, "/raw", bytes.NewReader(data))
	r.ContentLength = -1
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b, f := l.readBody(httptest.NewRecorder(), r, 16<<20, "RawReview")
	runtime.ReadMemStats(&after)
	if f != nil {
		t.Fatal(f.msg)
	}
	if !bytes.Equal(b.buf, data) || cap(b.buf) != len(data) {
		t.Fatalf("read %d bytes (cap %d), want %d", len(b.buf), cap(b.buf), len(data))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*uint64(len(data))+maxChunk+64<<10 {
		t.Errorf("a %d-byte body allocated %d bytes", len(data), got)
	}
	if got := l.inFlight(); got != int64(len(data)) {
		t.Errorf("%d bytes charged for a %d-byte body", got, len(data))
	}
	b.free()
	if got := l.inFlight(); got != 0 {
		t.Errorf("%d bytes charged after free", got)
	}
}
