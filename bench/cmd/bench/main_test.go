package main

import (
	"strings"
	"testing"

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
	}
	got := map[string]bool{}
	for _, g := range goals(res) {
		got[g.Name] = g.Met
	}
	want := map[string]bool{
		"/validate max throughput vs floor":                    false,
		"/validate p99 vs floor at 1000 req/s":                 true,
		"/validate p99 vs floor at 4000 req/s":                 false,
		"end to end p50, gateway vs ValidatingAdmissionPolicy": true,
		"end to end p99, gateway vs ValidatingAdmissionPolicy": false,
		"start to ready, Secret present (median)":              true,
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
