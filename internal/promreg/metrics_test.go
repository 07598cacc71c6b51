package promreg

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterReusesExisting(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	a := Register(reg, nil, prometheus.NewCounter(opts))
	b := Register(reg, nil, prometheus.NewCounter(opts))
	if a != b {
		t.Fatal("a second registration under the same name did not return the first collector")
	}
	b.Inc()
	if got := testValue(t, reg); got != 1 {
		t.Fatalf("x_total = %v, want 1", got)
	}
}

func TestRegisterClashIsLogged(t *testing.T) {
	reg := prometheus.NewRegistry()
	Register(reg, nil, prometheus.NewCounter(prometheus.CounterOpts{Name: "y", Help: "a counter"}))
	var buf bytes.Buffer
	g := Register(reg, slog.New(slog.NewTextHandler(&buf, nil)), prometheus.NewGauge(prometheus.GaugeOpts{Name: "y", Help: "a gauge"}))
	g.Set(3) // usable, though unregistered
	if !strings.Contains(buf.String(), "cannot register a metric") {
		t.Fatalf("clash not logged: %q", buf.String())
	}
}

func testValue(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}
