package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/bench"
)

func TestGoals(t *testing.T) {
	res := &bench.Results{
		Webhooks: []bench.Endpoint{{
			Path: "/validate", MaxRatio: 0.79,
			Rates: []bench.RatePoint{
				{Label: "fixed", Rate: 1000, P99Ratio: 1.5},
				{Label: "25% of floor max", Rate: 2000, P99Ratio: 9},
				{Label: "fixed", Rate: 4000, P99Ratio: 1.51},
			},
		}},
		EndToEnd: &bench.EndToEnd{
			GatewayVsVAP:   bench.PercentileRatios{P50: 1.10, P99: 1.3},
			FloorVsVAP:     bench.PercentileRatios{P50: 1.2},
			GatewayVsFloor: bench.PercentileRatios{P50: 0.92},
		},
		Startup: &bench.Startup{SecretPresent: bench.StartupRuns{ReadyMs: bench.SpreadOf([]float64{149, 151, 140})}},
		Engines: &bench.Engines{
			NativeVsVAP:    bench.PercentileRatios{P50: 1.05, P99: 1.2},
			WebhookVsFloor: bench.PercentileRatios{P50: 0.98, P99: 1.04},
		},
	}
	got := map[string]bool{}
	for _, g := range goals(res) {
		got[g.Name] = g.Met
	}
	want := map[string]bool{
		"/validate max throughput vs floor":                                       false,
		"/validate p99 vs floor at 1000 req/s":                                    true,
		"/validate p99 vs floor at 4000 req/s":                                    false,
		"end to end p50, gateway vs ValidatingAdmissionPolicy":                    true,
		"end to end p99, gateway vs ValidatingAdmissionPolicy":                    false,
		"start to ready, Secret present (median)":                                 true,
		"end to end p50, engine native vs hand-written ValidatingAdmissionPolicy": true,
		"end to end p99, engine native vs hand-written ValidatingAdmissionPolicy": false,
		"end to end p50, engine webhook vs floor webhook":                         true,
		"end to end p99, engine webhook vs floor webhook":                         true,
	}
	if len(got) != len(want) {
		t.Errorf("goals %v, want %v (fixed rates only)", got, want)
	}
	for name, met := range want {
		if m, ok := got[name]; !ok || m != met {
			t.Errorf("goal %q: met=%v (present %v), want %v", name, m, ok, met)
		}
	}
	if md := res.Markdown(); !strings.Contains(md, "No webhook can meet the goal of a p50 within 1.10x (the floor webhook is 1.20x)") {
		t.Errorf("the report does not say why no webhook meets the p50 goal:\n%s", md)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-only", "webhooks,nope"}, {"-conns", "0"}, {"-creates", "5"}, {"extra"}} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	o, err := parseArgs([]string{"-quick", "-only", "notify,handlers"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.want("notify") || o.want("e2e") || o.creates != 60 {
		t.Errorf("options %+v", o)
	}
}

func TestFloodReport(t *testing.T) {
	o, err := parseArgs([]string{"-quick", "-only", "flood"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.want("flood") || o.want("notify") || o.floodRuns != 1 || o.floodDur != time.Second {
		t.Errorf("options %+v", o)
	}
	res := &bench.Results{Flood: &bench.Flood{
		Status: "measured", Rate: 1000, P50Ratio: 1.25, P99Ratio: 3.5,
		Alone:      bench.RateRuns{Median: bench.Latency{P50: 0.8, P99: 2}},
		Flooded:    bench.RateRuns{Median: bench.Latency{P50: 1, P99: 7}},
		NotifyRate: bench.SpreadOf([]float64{4000, 5000, 6000}), NotifyAccepted: 10, NotifyRefused: 20,
	}}
	md := res.Markdown()
	for _, want := range []string{"## 8. Admission under a /notify flood", "| (b)/(a) | | **1.25x** | | **3.50x** |", "5000 /notify requests/s", "10 accepted and 20 refused"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	res.Flood = &bench.Flood{Status: bench.NotMeasured, Reason: "no token"}
	if md := res.Markdown(); !strings.Contains(md, "not yet measured: no token") {
		t.Errorf("report does not say why the flood was not measured:\n%s", md)
	}
}

// A -only run keeps the other sections of the results it replaces, and
// says which run measured them, through repeated partial runs.
func TestKeepOthers(t *testing.T) {
	dir := t.TempDir()
	first := &bench.Results{Schema: bench.SchemaVersion, Started: time.Date(2026, 11, 27, 10, 59, 16, 0, time.UTC),
		EndToEnd: &bench.EndToEnd{Creates: 600}, Startup: &bench.Startup{}}
	out := filepath.Join(dir, "results.json")
	if err := first.WriteJSON(out); err != nil {
		t.Fatal(err)
	}
	o := &options{out: out, only: []string{"engines"}}
	for run := range 2 {
		res := &bench.Results{Schema: bench.SchemaVersion, Started: first.Started.Add(time.Duration(run+1) * time.Hour), Engines: &bench.Engines{Creates: 1800}}
		keepOthers(res, o)
		if res.EndToEnd == nil || res.EndToEnd.Creates != 600 || res.Startup == nil || res.Engines.Creates != 1800 {
			t.Fatalf("run %d: sections %+v", run, res)
		}
		if res.KeptFrom != "2026-11-27T10:59:16Z" || !strings.Contains(strings.Join(res.Notes, "\n"), "come from the run of 2026-11-27T10:59:16Z") {
			t.Fatalf("run %d: kept from %q, notes %q", run, res.KeptFrom, res.Notes)
		}
		if err := res.WriteJSON(out); err != nil {
			t.Fatal(err)
		}
	}
}
