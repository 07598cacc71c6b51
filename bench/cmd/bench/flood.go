package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/orkspace/orkestra-gateway/bench"
)

// floodRate is the offered /validate rate of the flood section.
const floodRate = 1000

// flood is section 8: /validate latency at a fixed rate, alone and while
// a closed-loop client floods /notify as fast as the gateway answers, in
// alternating runs. Admission must not queue behind notification intake.
func (h *harness) flood(ctx context.Context) (*bench.Flood, error) {
	f := &bench.Flood{Status: bench.NotMeasured, Rate: floodRate}
	nt, err := h.notifyTarget(ctx)
	if err != nil {
		f.Reason = err.Error()
		return f, nil
	}
	// An event refused (429 beyond the caller's rate, 503 when the queue
	// or the in-flight slots are full) is as much load as one accepted.
	var accepted, refused atomic.Int64
	nt.OK = func(status int, _ []byte) bool {
		switch status {
		case http.StatusAccepted:
			accepted.Add(1)
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			refused.Add(1)
		default:
			return false
		}
		return true
	}
	client, err := bench.NewClient(h.caPEM, h.o.conns)
	if err != nil {
		return nil, err
	}
	vb, va := bench.ValidateBodies(10)
	vt := bench.Target{Client: client, URL: h.main.url("/validate"), Bodies: vb, OK: answeredReview}
	if err := checkDecisions(ctx, vt, va); err != nil {
		return nil, fmt.Errorf("gateway /validate: %w", err)
	}
	f.Connections = min(h.o.conns, 16)
	if warm := bench.Max(ctx, nt, f.Connections, 500*time.Millisecond); warm.Sent == warm.Errors {
		f.Reason = fmt.Sprintf("/notify answered no event with 202, 429 or 503: %s", warm.FirstError)
		h.logf("flood: %s", f.Reason)
		return f, nil
	}
	bench.Max(ctx, vt, h.o.conns, time.Second)
	accepted.Store(0)
	refused.Store(0)

	var alone, flooded []bench.Run
	var floodRates []float64
	for i := range h.o.floodRuns {
		for j := range 2 {
			if (i+j)%2 == 0 {
				run := bench.Fixed(ctx, vt, floodRate, h.o.conns, h.o.floodDur, 5*time.Second)
				alone = append(alone, run)
				h.logf("flood: /validate alone       p50 %.3f p99 %.3f ms, errors %d, missed %d", run.Latency.P50, run.Latency.P99, run.Errors, run.Missed)
				continue
			}
			fctx, stop := context.WithCancel(ctx)
			done := make(chan bench.Run, 1)
			go func() { done <- bench.Max(fctx, nt, f.Connections, time.Hour) }()
			time.Sleep(200 * time.Millisecond) // the flood at full speed first
			run := bench.Fixed(ctx, vt, floodRate, h.o.conns, h.o.floodDur, 5*time.Second)
			stop()
			fl := <-done
			flooded = append(flooded, run)
			floodRates = append(floodRates, fl.Throughput)
			if fl.Errors > 0 && f.FirstError == "" {
				f.FirstError = fl.FirstError
			}
			h.logf("flood: /validate under flood p50 %.3f p99 %.3f ms, errors %d, missed %d; /notify %.0f req/s",
				run.Latency.P50, run.Latency.P99, run.Errors, run.Missed, fl.Throughput)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	f.Status, f.Seconds = "measured", h.o.floodDur.Seconds()
	f.Alone, f.Flooded = bench.MedianOf(alone), bench.MedianOf(flooded)
	f.P50Ratio = bench.Ratio(f.Flooded.Median.P50, f.Alone.Median.P50)
	f.P99Ratio = bench.Ratio(f.Flooded.Median.P99, f.Alone.Median.P99)
	f.NotifyRate = bench.SpreadOf(floodRates)
	f.NotifyAccepted, f.NotifyRefused = accepted.Load(), refused.Load()
	return f, nil
}
