package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

// docFamily is a row of the metrics table of docs/observability.md.
type docFamily struct {
	typ    string
	labels []string
}

var (
	docRow      = regexp.MustCompile("^\\| `(orkestra_gateway_[a-z_]+)` \\| (counter|gauge|histogram) \\|([^|]*)\\|")
	labelRow    = regexp.MustCompile("^\\| ((?:`[a-z]+`(?:, )?)+) \\|")
	backticked  = regexp.MustCompile("`([a-z_]+)`")
	queryMetric = regexp.MustCompile(`\b(orkestra_gateway_[a-z_]+)`)
)

// readDoc returns the metrics table and the label names of the labels
// table of docs/observability.md.
func readDoc(t *testing.T) (map[string]docFamily, map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "observability.md"))
	if err != nil {
		t.Fatal(err)
	}
	fams, labels := map[string]docFamily{}, map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := docRow.FindStringSubmatch(line); m != nil {
			var ls []string
			for _, l := range backticked.FindAllStringSubmatch(m[3], -1) {
				ls = append(ls, l[1])
			}
			sort.Strings(ls)
			fams[m[1]] = docFamily{m[2], ls}
		} else if m := labelRow.FindStringSubmatch(line); m != nil {
			for _, l := range backticked.FindAllStringSubmatch(m[1], -1) {
				labels[l[1]] = true
			}
		}
	}
	if len(fams) < 30 || len(labels) < 10 {
		t.Fatalf("docs/observability.md: %d metrics, %d labels read: the tables changed shape", len(fams), len(labels))
	}
	return fams, labels
}

// described returns every family the collector describes with its label
// names (constant and variable), whether it has series yet or not.
func described(t *testing.T, c metrics.Collector) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	c.Describe(func(d *metrics.Desc) {
		var ls []string
		for _, l := range d.ConstLabels {
			ls = append(ls, l.Name)
		}
		ls = append(ls, d.Labels...)
		sort.Strings(ls)
		if prev, ok := out[d.Name]; ok && !slices.Equal(prev, ls) {
			t.Errorf("%s: described with labels %v and %v", d.Name, prev, ls)
		}
		out[d.Name] = ls
	})
	return out
}

// The metrics table of docs/observability.md is the set of families the
// gateway registers, with their types and label names; every label name is
// in the labels table (one name, one meaning); the families pass
// Prometheus' metric lint and the client library's pedantic registry; the
// exposition parses and is the one the client library writes for them; and
// the collectors of every package register together (the log-lines family
// is shared by two listeners).
func TestMetricsTable(t *testing.T) {
	g := gatewayFor(t, katalogHead+"security:\n  deletionProtection: {enabled: true}\n"+convertingEntry)
	if _, err := g.webhookHandler(); err != nil { // every webhook's series, as Run builds them
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewGoCollector(), metrics.NewProcessCollector(), g.metrics)
	doc, labels := readDoc(t)

	got := described(t, g.metrics)
	for name, ls := range got {
		d, ok := doc[name]
		switch {
		case !ok:
			t.Errorf("%s %v is not in docs/observability.md", name, ls)
		case !slices.Equal(d.labels, ls):
			t.Errorf("%s: labels %v, docs/observability.md says %v", name, ls, d.labels)
		}
		for _, l := range ls {
			if !labels[l] {
				t.Errorf("%s: label %q is not in the labels table of docs/observability.md", name, l)
			}
		}
	}
	for name := range doc {
		if _, ok := got[name]; !ok {
			t.Errorf("docs/observability.md lists %s, which the gateway does not export", name)
		}
	}

	// What a Prometheus server reads: /metrics, parsed.
	w := httptest.NewRecorder()
	reg.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	mfs, err := metricstest.Parse(w.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, mf := range mfs {
		if d, ok := doc[mf.GetName()]; ok && !strings.EqualFold(d.typ, mf.GetType().String()) {
			t.Errorf("%s is a %s, docs/observability.md says %s", mf.GetName(), mf.GetType(), d.typ)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	// The client library's pedantic registry accepts the families (what is
	// collected is what is described) and writes them as the gateway does.
	pedantic := prometheus.NewPedanticRegistry()
	pedantic.MustRegister(metricstest.Collector(g.metrics))
	want, err := metricstest.ClientText(pedantic)
	if err != nil {
		t.Fatal(err)
	}
	if text, err := metricstest.Text(g.metrics); err != nil || text != want {
		t.Errorf("the exposition (%v) differs from the client library's:\n%s", err, lineDiff(text, want))
	}
}

// lineDiff returns the lines of got and want that the other lacks.
func lineDiff(got, want string) string {
	var out []string
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for _, l := range gl {
		if !slices.Contains(wl, l) {
			out = append(out, "+ "+l)
		}
	}
	for _, l := range wl {
		if !slices.Contains(gl, l) {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}

// Series that exist from the start: the build, one in-flight gauge per
// listener at zero, readiness at zero until ready.
func TestProcessSeries(t *testing.T) {
	m := newMetrics(buildinfo.Info{Version: "v1.2.3", Commit: "abc", Go: "go1.99", Tags: "gateway"})
	reg := metrics.NewRegistry()
	reg.MustRegister(m)
	want := `# HELP orkestra_gateway_build_info Always 1; the labels name the build: version, commit, Go version and build tags.
# TYPE orkestra_gateway_build_info gauge
orkestra_gateway_build_info{commit="abc",goversion="go1.99",tags="gateway",version="v1.2.3"} 1
# HELP orkestra_gateway_requests_in_flight HTTP requests being served, by listener (webhook, notify, probe; the probe listener counts the scrape reading it).
# TYPE orkestra_gateway_requests_in_flight gauge
orkestra_gateway_requests_in_flight{listener="notify"} 0
orkestra_gateway_requests_in_flight{listener="probe"} 0
orkestra_gateway_requests_in_flight{listener="webhook"} 0
# HELP orkestra_gateway_ready 1 while /readyz answers 200 (registrations applied, the served certificate trusted, not shutting down), else 0.
# TYPE orkestra_gateway_ready gauge
orkestra_gateway_ready 0
`
	if err := testutil.GatherAndCompare(metricstest.Gatherer(reg), strings.NewReader(want), "orkestra_gateway_build_info", "orkestra_gateway_requests_in_flight", "orkestra_gateway_ready"); err != nil {
		t.Error(err)
	}
	r := newReadiness(m.ready)
	r.set("")
	if v := m.ready.Value(); v != 1 {
		t.Errorf("ready = %v once ready", v)
	}
	r.set("shutting down")
	if v := m.ready.Value(); v != 0 {
		t.Errorf("ready = %v while shutting down", v)
	}

	// The gauge counts a request while it is served, and no longer after.
	gauge := m.inFlight.WithLabelValues(listenerNotify)
	var during float64
	f := &inflight{gauge: gauge}
	f.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { during = gauge.Value() })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if after := gauge.Value(); during != 1 || after != 0 {
		t.Errorf("in flight: %v while serving, %v after; want 1 and 0", during, after)
	}
}

// The dashboard is valid JSON, queries only documented metrics, and has a
// panel for every family of docs/observability.md.
func TestDashboard(t *testing.T) {
	doc, _ := readDoc(t)
	queried := dashboardMetrics(t, filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	for m := range queried {
		if _, ok := doc[m]; !ok {
			t.Errorf("the dashboard queries %s, which docs/observability.md does not list", m)
		}
	}
	for m := range doc {
		if !queried[m] {
			t.Errorf("no panel of the dashboard queries %s", m)
		}
	}
}

// dashboardMetrics reads a Grafana dashboard and returns the metric
// families its panels query (a histogram's _bucket, _sum and _count are
// its family).
func dashboardMetrics(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range queryMetric.FindAllStringSubmatch(tg.Expr, -1) {
				name := m[1]
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(name, suffix); ok && strings.HasSuffix(base, "_seconds") {
						name = base
					}
				}
				out[name] = true
			}
		}
	}
	return out
}
