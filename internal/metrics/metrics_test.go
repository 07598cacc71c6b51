package metrics_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

// tricky are label values and helps that need escaping or are unusual.
var tricky = []string{"", `a"b`, `back\slash`, "two\nlines", `\n`, `"\"`, "ünïcødé ✓", "tab\there", "{}=,", " lead and trail "}

// families builds one family of every kind, with constant labels, label
// values that need escaping and values a float formatter can get wrong.
func families() metrics.Collectors {
	c := metrics.NewCounter(metrics.Opts{Name: "t_plain_total", Help: `Help with a \ backslash and a` + "\nnewline."})
	c.Add(1e21)
	cv := metrics.NewCounterVec(metrics.Opts{Name: "t_requests_total", Help: "Requests.", ConstLabels: metrics.Labels{"zone": `z"1`, "app": "x"}}, []string{"path", "code"})
	for i, v := range tricky {
		cv.WithLabelValues(v, "200").Add(float64(i) + 0.25)
	}
	cv.WithLabelValues("/", "500").Inc()
	g := metrics.NewGauge(metrics.Opts{Name: "t_temperature", Help: "A gauge."})
	g.Set(-0.000123456789)
	gv := metrics.NewGaugeVec(metrics.Opts{Name: "t_specials", Help: "Special values."}, []string{"kind"})
	gv.WithLabelValues("nan").Set(math.NaN())
	gv.WithLabelValues("inf").Set(math.Inf(1))
	gv.WithLabelValues("-inf").Set(math.Inf(-1))
	gv.WithLabelValues("one").Set(1)
	gv.WithLabelValues("minus-one").Set(-1)
	gv.WithLabelValues("big").Set(math.MaxFloat64)
	gv.WithLabelValues("tiny").Set(5e-324)
	gf := metrics.NewGaugeFunc(metrics.Opts{Name: "t_func", Help: "A function.", ConstLabels: metrics.Labels{"listener": "probe"}}, func() float64 { return 42.5 })
	h := metrics.NewHistogramVec(metrics.HistogramOpts{Name: "t_duration_seconds", Help: "Durations.", Buckets: []float64{.00001, .0005, .1, 1, 2.5, 1e3}}, []string{"webhook"})
	for _, v := range []float64{0, .00001, .00002, .1, .5, 1, 3, 1e3, 1e4, -1} {
		h.WithLabelValues("validate").Observe(v)
	}
	h.WithLabelValues(`we"ird`).Observe(.0004)
	h.WithLabelValues("empty")
	return metrics.Collectors{c, cv, g, gv, gf, h}
}

// The exposition is the client library's, byte for byte, for the same
// families (its pedantic registry accepting them): escaping, number
// formatting, label and series order, histogram buckets with +Inf.
func TestWriteTextIsTheClientLibrarys(t *testing.T) {
	fams := families()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metricstest.Collector(fams))
	want, err := metricstest.ClientText(reg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := metricstest.Text(fams)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("exposition:\n%s\nthe client library writes:\n%s", got, want)
	}
	if !strings.Contains(got, `t_requests_total{app="x",code="200",path="a\"b",zone="z\"1"} 1.25`) ||
		!strings.Contains(got, `path="two\nlines"`) || !strings.Contains(got, `path="back\\slash"`) ||
		!strings.Contains(got, `# HELP t_plain_total Help with a \\ backslash and a\nnewline.`) {
		t.Errorf("escaping is not the text format's:\n%s", got)
	}
}

// A Prometheus parser reads every family back: HELP and TYPE, each label
// value as it was given, histograms as cumulative buckets (an observation
// on a bound counts in it), +Inf, _sum and _count.
func TestExpositionParses(t *testing.T) {
	fams, err := metricstest.Families(families())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	if f := byName["t_plain_total"]; f.GetHelp() != `Help with a \ backslash and a`+"\nnewline." || f.GetType() != dto.MetricType_COUNTER || f.GetMetric()[0].GetCounter().GetValue() != 1e21 {
		t.Errorf("t_plain_total = %v", f)
	}
	var paths []string
	for _, m := range byName["t_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "path" && m.GetLabel()[1].GetValue() == "200" {
				paths = append(paths, l.GetValue())
			}
		}
	}
	if slices.Sort(paths); !slices.Equal(paths, slices.Sorted(slices.Values(tricky))) {
		t.Errorf("label values read back %q, want %q", paths, tricky)
	}
	if f := byName["t_func"]; f.GetType() != dto.MetricType_GAUGE || f.GetMetric()[0].GetGauge().GetValue() != 42.5 || f.GetMetric()[0].GetLabel()[0].GetValue() != "probe" {
		t.Errorf("t_func = %v", f)
	}
	h := byName["t_duration_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM || len(h.GetMetric()) != 3 {
		t.Fatalf("t_duration_seconds = %v", h)
	}
	for _, m := range h.GetMetric() {
		if m.GetLabel()[0].GetValue() != "validate" {
			continue
		}
		hist := m.GetHistogram()
		var bounds []float64
		var counts []uint64
		for _, b := range hist.GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
			counts = append(counts, b.GetCumulativeCount())
		}
		if want := []float64{.00001, .0005, .1, 1, 2.5, 1e3, math.Inf(1)}; !slices.Equal(bounds, want) {
			t.Errorf("bounds %v, want %v", bounds, want)
		}
		// -1, 0, 1e-5 | 2e-5 | .1 | .5, 1 | - | 3, 1e3 | 1e4
		if want := []uint64{3, 4, 5, 7, 7, 9, 10}; !slices.Equal(counts, want) {
			t.Errorf("cumulative counts %v, want %v", counts, want)
		}
		if hist.GetSampleCount() != 10 || math.Abs(hist.GetSampleSum()-11003.60003) > 1e-9 {
			t.Errorf("count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
		}
	}
}

// An invalid UTF-8 label value is exported replaced, one series for every
// spelling, so the exposition stays readable.
func TestInvalidUTF8LabelValue(t *testing.T) {
	v := metrics.NewCounterVec(metrics.Opts{Name: "t_total", Help: "T."}, []string{"l"})
	v.WithLabelValues("a\xffb").Inc()
	v.WithLabelValues("a\xfeb").Inc()
	fams, err := metricstest.Families(v)
	if err != nil {
		t.Fatal(err)
	}
	ms := fams[0].GetMetric()
	if len(ms) != 1 || ms[0].GetLabel()[0].GetValue() != "a\uFFFDb" || ms[0].GetCounter().GetValue() != 2 {
		t.Errorf("series %v", ms)
	}
}

func TestCounterAndGauge(t *testing.T) {
	c := metrics.NewCounter(metrics.Opts{Name: "t_total", Help: "T."})
	c.Inc()
	c.Add(2)
	c.Add(0.5)
	if c.Value() != 3.5 {
		t.Errorf("counter = %v, want 3.5", c.Value())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Add(-1) on a counter did not panic")
			}
		}()
		c.Add(-1)
	}()
	g := metrics.NewGauge(metrics.Opts{Name: "t", Help: "T."})
	g.Inc()
	g.Add(2.5)
	g.Dec()
	g.Sub(0.5)
	if g.Value() != 2 {
		t.Errorf("gauge = %v, want 2", g.Value())
	}
	v := metrics.NewCounterVec(metrics.Opts{Name: "t_v_total", Help: "T."}, []string{"a", "b"})
	first, again, other := v.WithLabelValues("x", "y"), v.WithLabelValues("x", "y"), v.WithLabelValues("xy", "")
	if first != again || other == first {
		t.Error("WithLabelValues does not return one series per list of values")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("WithLabelValues with one value for two labels did not panic")
			}
		}()
		v.WithLabelValues("x")
	}()
}

// The registry refuses what a Prometheus server would refuse or misread.
func TestRegistryRefuses(t *testing.T) {
	counter := func(name, help string, consts metrics.Labels) *metrics.Counter {
		return metrics.NewCounter(metrics.Opts{Name: name, Help: help, ConstLabels: consts})
	}
	for _, c := range []struct {
		name string
		cs   []metrics.Collector
		want string
	}{
		{"bad name", []metrics.Collector{counter("1abc", "H.", nil)}, "not a valid metric name"},
		{"no help", []metrics.Collector{counter("a_total", " ", nil)}, "has no help"},
		{"bad label", []metrics.Collector{counter("a_total", "H.", metrics.Labels{"a-b": "x"})}, "not a valid label name"},
		{"reserved label", []metrics.Collector{counter("a_total", "H.", metrics.Labels{"__x": "x"})}, "not a valid label name"},
		{"le", []metrics.Collector{metrics.NewHistogramVec(metrics.HistogramOpts{Name: "h", Help: "H.", Buckets: []float64{1}}, []string{"le"})}, "reserved"},
		{"label twice", []metrics.Collector{metrics.NewCounterVec(metrics.Opts{Name: "a_total", Help: "H.", ConstLabels: metrics.Labels{"x": "1"}}, []string{"x"})}, "twice"},
		{"two helps", []metrics.Collector{counter("a_total", "H.", metrics.Labels{"l": "1"}), counter("a_total", "Other.", metrics.Labels{"l": "2"})}, "two helps"},
		{"two types", []metrics.Collector{counter("a", "H.", nil), metrics.NewGauge(metrics.Opts{Name: "a", Help: "H."})}, "registered as a counter and a gauge"},
		{"same series", []metrics.Collector{counter("a_total", "H.", metrics.Labels{"l": "1"}), counter("a_total", "H.", metrics.Labels{"l": "1"})}, "registered twice"},
		{"other labels", []metrics.Collector{counter("a_total", "H.", metrics.Labels{"l": "1"}), counter("a_total", "H.", metrics.Labels{"m": "1"})}, "registered with labels"},
	} {
		r := metrics.NewRegistry()
		var err error
		for _, col := range c.cs {
			if err = r.Register(col); err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Register = %v, want %q", c.name, err, c.want)
		}
	}
	// One family from two collectors told apart by a constant label, as
	// the log-lines family of two listeners.
	r := metrics.NewRegistry()
	if err := r.Register(counter("a_total", "H.", metrics.Labels{"l": "1"})); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(counter("a_total", "H.", metrics.Labels{"l": "2"})); err != nil {
		t.Errorf("a second series of one family: %v", err)
	}
	if n := metricstest.Count(t, r, "a_total"); n != 2 {
		t.Errorf("%d series, want 2", n)
	}
	for _, b := range [][]float64{{2, 1}, {1, 1}, {math.Inf(1)}, {math.NaN()}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("buckets %v accepted", b)
				}
			}()
			metrics.NewHistogramVec(metrics.HistogramOpts{Name: "h", Help: "H.", Buckets: b}, nil)
		}()
	}
}

// The Go runtime's and the process's families are the client library's:
// the same names, helps and types (dashboards and alerts for Go services
// query them), and the process's figures read from /proc agree with it.
func TestRuntimeAndProcessFamiliesAreTheClientLibrarys(t *testing.T) {
	for _, c := range []struct {
		ours   metrics.Collector
		theirs prometheus.Collector
	}{
		{metrics.NewGoCollector(), collectors.NewGoCollector()},
		{metrics.NewProcessCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})},
	} {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c.theirs)
		theirs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		ours, err := metricstest.Families(c.ours)
		if err != nil {
			t.Fatal(err)
		}
		// Ours pass the pedantic registry too.
		if err := prometheus.NewPedanticRegistry().Register(metricstest.Collector(c.ours)); err != nil {
			t.Error(err)
		}
		key := func(f *dto.MetricFamily) string {
			return f.GetName() + " " + f.GetType().String() + " " + f.GetHelp()
		}
		var want, got []string
		for _, f := range theirs {
			want = append(want, key(f))
		}
		for _, f := range ours {
			got = append(got, key(f))
		}
		if !slices.Equal(got, want) {
			t.Errorf("families:\n  %s\nthe client library's:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		// Figures that do not move while the test runs are equal.
		value := func(fams []*dto.MetricFamily, name string) float64 {
			for _, f := range fams {
				if f.GetName() == name {
					m := f.GetMetric()[0]
					return m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
			return math.NaN()
		}
		for _, name := range []string{"process_start_time_seconds", "process_max_fds", "process_virtual_memory_max_bytes", "go_gc_gogc_percent", "go_sched_gomaxprocs_threads", "go_gc_gomemlimit_bytes"} {
			if v, w := value(ours, name), value(theirs, name); !math.IsNaN(w) && v != w && math.Abs(v-w) > 1 {
				t.Errorf("%s = %v, the client library reads %v", name, v, w)
			}
		}
		for _, name := range []string{"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "go_goroutines", "go_memstats_heap_alloc_bytes"} {
			if v, w := value(ours, name), value(theirs, name); !math.IsNaN(w) && !(v > 0) {
				t.Errorf("%s = %v (the client library reads %v)", name, v, w)
			}
		}
	}
}

// /metrics: the text format's media type, gzipped for a client that
// accepts it (Prometheus servers do), plain otherwise.
func TestServeHTTP(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.MustRegister(families())
	want, err := metricstest.Text(families())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"gzip", true},
		{"deflate, gzip;q=0.5", true},
		{"GZIP", true},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip;q=0.0, identity", false},
		{"gzip;q=bad", false},
		{"identity", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if c.accept != "" {
			req.Header.Set("Accept-Encoding", c.accept)
		}
		w := httptest.NewRecorder()
		reg.ServeHTTP(w, req)
		if ct := w.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("%q: Content-Type %q", c.accept, ct)
		}
		body := w.Body.Bytes()
		if gz := w.Header().Get("Content-Encoding") == "gzip"; gz != c.gzip {
			t.Errorf("Accept-Encoding %q: gzipped %v, want %v", c.accept, gz, c.gzip)
		} else if gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if string(body) != want {
			t.Errorf("%q: body differs from the exposition", c.accept)
		}
	}
}
