package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/orkspace/orkestra-gateway/bench"
)

// answeredReview accepts any 200 AdmissionReview answer; allowed and denied
// are both answers (the bodies' decisions are checked once, up front).
func answeredReview(status int, body []byte) bool {
	return status == http.StatusOK && bytes.Contains(body, []byte(`"uid"`))
}

type endpointSpec struct {
	path, requests string
	bodies         [][]byte
	allowed        []bool // the gateway's expected decision per body
}

// webhooks is section 1 (floor ratio) and section 4 (memory).
func (h *harness) webhooks(ctx context.Context, res *bench.Results) error {
	gwClient, err := bench.NewClient(h.caPEM, h.o.conns)
	if err != nil {
		return err
	}
	flClient, err := bench.NewClient(h.caPEM, h.o.conns)
	if err != nil {
		return err
	}
	vb, va := bench.ValidateBodies(10)
	specs := []endpointSpec{
		{
			path: "/validate",
			requests: fmt.Sprintf("CREATE of a Website as `kubectl apply` sends it (%.1f KiB reviews with managedFields and the "+
				"last-applied annotation), ten rules; nine bodies in ten pass, one breaks two rules and is denied.", kib(vb)),
			bodies: vb, allowed: va,
		},
		{
			path: "/deletion-protection",
			requests: fmt.Sprintf("DELETE of a ConfigMap labelled orkestra.io/deletion-protection=true (%.1f KiB review): denied.",
				kib([][]byte{bench.DeleteReview()})),
			bodies: [][]byte{bench.DeleteReview()}, allowed: []bool{false},
		},
	}

	mu := &bench.MemoryUse{}
	time.Sleep(2 * time.Second) // idle: after start-up work, before any load
	if n, err := bench.RSS(h.main.proc.PID()); err == nil {
		mu.GatewayIdleMiB = bench.MiB(n)
	}
	if n, err := bench.RSS(h.floor.pid()); err == nil {
		mu.FloorIdleMiB = bench.MiB(n)
	}
	gwRSS := bench.SampleRSS(h.main.proc.PID(), 100*time.Millisecond)
	flRSS := bench.SampleRSS(h.floor.pid(), 100*time.Millisecond)

	for _, s := range specs {
		gw := bench.Target{Client: gwClient, URL: h.main.url(s.path), Bodies: s.bodies, OK: answeredReview}
		fl := bench.Target{Client: flClient, URL: fmt.Sprintf("https://127.0.0.1:%d%s", h.floor.port, s.path), Bodies: s.bodies, OK: answeredReview}
		if err := checkDecisions(ctx, gw, s.allowed); err != nil {
			return fmt.Errorf("gateway %s: %w", s.path, err)
		}
		if err := checkDecisions(ctx, fl, slices.Repeat([]bool{true}, len(s.bodies))); err != nil {
			return fmt.Errorf("floor %s: %w", s.path, err)
		}
		e, err := h.endpoint(ctx, s, gw, fl)
		if err != nil {
			return err
		}
		res.Webhooks = append(res.Webhooks, e)
	}
	mu.GatewayLoad = gwRSS.Stop()
	mu.FloorLoad = flRSS.Stop()
	res.Memory = mu
	if b, err := os.ReadFile(h.mainLog); err == nil {
		res.Notes = append(res.Notes, fmt.Sprintf("The gateway ran with its default logging (JSON, level info: one line per denial) "+
			"into a file, as a container runtime keeps it; by the end of section 1 it had written %d lines (%.1f MiB).",
			bytes.Count(b, []byte("\n")), float64(len(b))/(1<<20)))
	}
	return nil
}

func kib(bodies [][]byte) float64 {
	n := 0
	for _, b := range bodies {
		n += len(b)
	}
	return float64(n) / float64(len(bodies)) / 1024
}

// checkDecisions sends every body once and compares the answer's allowed
// field with want: a server that answers fast but wrongly is no benchmark.
func checkDecisions(ctx context.Context, t bench.Target, want []bool) error {
	for i, body := range t.Bodies {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := t.Client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var review struct {
			Response *struct {
				UID     string `json:"uid"`
				Allowed bool   `json:"allowed"`
			} `json:"response"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &review) != nil || review.Response == nil || review.Response.UID == "" {
			return fmt.Errorf("body %d: answer %d %.300s", i, resp.StatusCode, b)
		}
		if review.Response.Allowed != want[i] {
			return fmt.Errorf("body %d: allowed=%v, want %v: %.300s", i, review.Response.Allowed, want[i], b)
		}
	}
	return nil
}

// endpoint measures one path: maximum throughput of both servers (median
// of alternating runs), then both at fixed rates derived from the floor's
// maximum, and at 1,000 and 4,000 requests/s.
func (h *harness) endpoint(ctx context.Context, s endpointSpec, gw, fl bench.Target) (bench.Endpoint, error) {
	e := bench.Endpoint{Path: s.path, Requests: s.requests}
	h.logf("%s: warm-up", s.path)
	bench.Max(ctx, fl, h.o.conns, time.Second)
	bench.Max(ctx, gw, h.o.conns, time.Second)

	var flMax, gwMax []float64
	for i := range h.o.maxRuns {
		order := []*bench.Target{&fl, &gw}
		if i%2 == 1 {
			order = []*bench.Target{&gw, &fl}
		}
		for _, t := range order {
			run := bench.Max(ctx, *t, h.o.conns, h.o.maxDur)
			if err := ctx.Err(); err != nil {
				return e, err
			}
			if run.Errors > 0 {
				return e, fmt.Errorf("%s: %d errors at maximum throughput, first: %s", t.URL, run.Errors, run.FirstError)
			}
			name := "floor"
			if t == &gw {
				name = "gateway"
				gwMax = append(gwMax, run.Throughput)
			} else {
				flMax = append(flMax, run.Throughput)
			}
			h.logf("%s: max %s %.0f req/s (p50 %.3f ms, p99 %.3f ms)", s.path, name, run.Throughput, run.Latency.P50, run.Latency.P99)
		}
	}
	e.MaxFloor, e.MaxGateway = bench.SpreadOf(flMax), bench.SpreadOf(gwMax)
	e.MaxRatio = bench.Ratio(e.MaxGateway.Median, e.MaxFloor.Median)

	type point struct {
		label string
		rate  float64
	}
	var points []point
	for _, f := range []float64{0.25, 0.5, 0.9} {
		points = append(points, point{fmt.Sprintf("%.0f%% of floor max", f*100), bench.Round(f*e.MaxFloor.Median, 0)})
	}
	points = append(points, point{"fixed", 1000}, point{"fixed", 4000})
	slices.SortStableFunc(points, func(a, b point) int { return cmp.Compare(a.rate, b.rate) })

	for i, p := range points {
		rp := bench.RatePoint{Label: p.label, Rate: p.rate}
		var flRuns, gwRuns []bench.Run
		for rep := range h.o.rateRuns {
			order := []string{"floor", "gateway"}
			if (i+rep)%2 == 1 {
				order = []string{"gateway", "floor"}
			}
			for _, side := range order {
				t := fl
				if side == "gateway" {
					t = gw
				}
				run := bench.Fixed(ctx, t, p.rate, h.o.conns, h.o.rateDur, 5*time.Second)
				if err := ctx.Err(); err != nil {
					return e, err
				}
				if side == "gateway" {
					gwRuns = append(gwRuns, run)
				} else {
					flRuns = append(flRuns, run)
				}
				h.logf("%s: %.0f req/s %-7s p50 %.3f p99 %.3f p99.9 %.3f ms, errors %d, missed %d",
					s.path, p.rate, side, run.Latency.P50, run.Latency.P99, run.Latency.P999, run.Errors, run.Missed)
			}
		}
		rp.Floor, rp.Gateway = bench.MedianOf(flRuns), bench.MedianOf(gwRuns)
		rp.P50Ratio = bench.Ratio(rp.Gateway.Median.P50, rp.Floor.Median.P50)
		rp.P99Ratio = bench.Ratio(rp.Gateway.Median.P99, rp.Floor.Median.P99)
		e.Rates = append(e.Rates, rp)
	}
	return e, nil
}
