package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Target is what the load generator sends: POSTs of Bodies, in turn, to URL.
type Target struct {
	Client *http.Client
	URL    string
	// ContentType of every request; default application/json.
	ContentType string
	// Header is added to every request (e.g. Authorization).
	Header http.Header
	// Bodies are sent in rotation, so the mix of requests is the same for
	// every target and every run.
	Bodies [][]byte
	// Body, when set, makes the i-th body instead of Bodies (unique
	// events); it must be safe for concurrent use.
	Body func(i int64) []byte
	// OK decides whether an answer counts as a success; default: 200.
	OK func(status int, body []byte) bool
}

// Run is the outcome of one load phase.
type Run struct {
	// Rate is the offered rate (requests/s) of a fixed-rate run, 0 for a
	// closed-loop (maximum throughput) run.
	Rate float64 `json:"offeredRate,omitempty"`
	// Sent counts requests answered or failed; Errors those that failed
	// (transport error or an answer OK rejects); Missed the requests a
	// fixed-rate run scheduled but never sent before its deadline.
	Sent   int64 `json:"sent"`
	Errors int64 `json:"errors"`
	Missed int64 `json:"missed,omitempty"`
	// Seconds is the length of the phase; Throughput successful requests
	// per second over it.
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"`
	Latency    Latency `json:"latency"`
	// FirstError describes the first failure, to tell a broken target from
	// a slow one.
	FirstError string `json:"firstError,omitempty"`
}

// NewClient is the load generator's HTTP client: HTTP/1.1 over TLS with
// keep-alive, at most conns connections, trusting only caPEM, as the API
// server's webhook client does.
func NewClient(caPEM []byte, conns int) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the CA bundle")
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}, nil
}

// worker state: latencies are kept per worker and merged at the end, so
// recording costs no lock.
type recorder struct {
	lat      []time.Duration
	sent     int64
	errors   int64
	firstErr string
}

func (t *Target) do(ctx context.Context, i int64, rec *recorder) (ok bool) {
	var body []byte
	if t.Body != nil {
		body = t.Body(i)
	} else {
		body = t.Bodies[int(i%int64(len(t.Bodies)))]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		rec.fail(err.Error())
		return false
	}
	ct := t.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	for k, vs := range t.Header {
		req.Header[k] = vs
	}
	resp, err := t.Client.Do(req)
	rec.sent++
	if err != nil {
		if ctx.Err() != nil { // the phase ended while in flight: not the target's fault
			rec.sent--
			return false
		}
		rec.fail(err.Error())
		return false
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		rec.fail("reading the answer: " + err.Error())
		return false
	case t.OK != nil && !t.OK(resp.StatusCode, b):
		rec.fail(fmt.Sprintf("unexpected answer %d: %.200s", resp.StatusCode, b))
		return false
	case t.OK == nil && resp.StatusCode != http.StatusOK:
		rec.fail(fmt.Sprintf("status %d: %.200s", resp.StatusCode, b))
		return false
	}
	return true
}

func (r *recorder) fail(msg string) {
	r.errors++
	if r.firstErr == "" {
		r.firstErr = msg
	}
}

func merge(recs []*recorder, run *Run) {
	var all []time.Duration
	for _, r := range recs {
		all = append(all, r.lat...)
		run.Sent += r.sent
		run.Errors += r.errors
		if run.FirstError == "" {
			run.FirstError = r.firstErr
		}
	}
	run.Latency = Summarize(all)
	if run.Seconds > 0 {
		run.Throughput = Round(float64(run.Sent-run.Errors)/run.Seconds, 1)
	}
}

// Max drives t closed-loop with conns concurrent requests for d: each
// worker sends its next request as soon as the previous one is answered.
// Its throughput is the target's maximum at that concurrency.
func Max(ctx context.Context, t Target, conns int, d time.Duration) Run {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next atomic.Int64
	recs := make([]*recorder, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range recs {
		rec := &recorder{lat: make([]time.Duration, 0, 4096)}
		recs[w] = rec
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				t0 := time.Now()
				if t.do(ctx, i, rec) {
					rec.lat = append(rec.lat, time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	run := Run{Seconds: Round(time.Since(start).Seconds(), 3)}
	merge(recs, &run)
	return run
}

// Fixed drives t open-loop at rate requests/s for d with up to conns
// requests in flight. Request i is due at start + i/rate whether or not
// earlier ones were answered, and its latency counts from when it was due,
// so a target that falls behind shows its queueing in the percentiles
// (no coordinated omission). Requests still unsent grace after d are
// counted as Missed.
func Fixed(ctx context.Context, t Target, rate float64, conns int, d, grace time.Duration) Run {
	interval := time.Duration(float64(time.Second) / rate)
	total := int64(float64(d) / float64(interval))
	ctx, cancel := context.WithTimeout(ctx, d+grace)
	defer cancel()
	var next atomic.Int64
	recs := make([]*recorder, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range recs {
		rec := &recorder{lat: make([]time.Duration, 0, int(total)/conns+16)}
		recs[w] = rec
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait) // due is at most d away, within ctx's deadline
				}
				if t.do(ctx, i, rec) {
					rec.lat = append(rec.lat, time.Since(due))
				}
			}
		})
	}
	wg.Wait()
	run := Run{Rate: rate, Seconds: Round(d.Seconds(), 3)}
	merge(recs, &run)
	run.Missed = max(0, total-run.Sent)
	return run
}
