package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

// metricsAdmission is appended to the notify Katalog: Widgets validated on
// CREATE, UPDATE and DELETE by a named rule (and one in audit mode),
// deletion protection, and a converting entry whose CRD the gateway leaves
// alone (no updateCRD), so that every family has series.
const metricsAdmission = `security:
  deletionProtection:
    enabled: true
  conversion:
    enabled: true
  webhooks:
    admission:
      enabled: true
    failurePolicy: Ignore
    timeoutSeconds: 5
spec:
  crds:
    widget:
      apiTypes: {group: metrics.e2e.example.com, version: v1, kind: Widget, plural: widgets}
      webhooks:
        validation: true
        operations: [CREATE, UPDATE, DELETE]
      validation:
        rules:
          - name: replicas-range
            field: spec.replicas
            between: "1,10"
            message: replicas must be between 1 and 10
          - name: at-most-five
            field: spec.replicas
            lte: 5
            action: audit
            message: at most 5 replicas
    thing:
      apiTypes: {group: metrics.e2e.example.com, version: v2, kind: Thing, plural: things}
      conversion:
        storageVersion: v2
        versions: [v1, v2]
        updateCRD: false
`

// exposition is a /metrics scrape: each series' value by its text
// ("name{label="value",...}", labels sorted as the gateway writes them),
// the families declared, and the families as the Prometheus text parser
// reads them.
type exposition struct {
	series   map[string]float64
	families map[string]bool
	parsed   map[string]*dto.MetricFamily
}

func scrape(t *testing.T, g *gateway) exposition {
	t.Helper()
	code, body := g.probe("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	fams, err := metricstest.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	e := exposition{series: map[string]float64{}, families: map[string]bool{}, parsed: map[string]*dto.MetricFamily{}}
	for _, f := range fams {
		e.parsed[f.GetName()] = f
	}
	for _, l := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
			e.families[strings.Fields(rest)[0]] = true
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", l, err)
		}
		e.series[l[:i]] = v
	}
	return e
}

// The real binary, called by the real API server: after admission requests
// with each operation, a denial by a named rule, a /notify request and a
// scrape, /metrics has the new series with their values: the operation
// label (the series of the operations a webhook receives at zero before its
// first request, CONNECT only once a caller sent one), the denial per rule,
// every in-flight gauge back to 0 (the probe's counting the scrape itself),
// the build and readiness; every metric the Grafana dashboard and the
// PrometheusRule query exists.
func TestMetricsEndToEnd(t *testing.T) {
	ctx := context.Background()
	// Widgets of a group of this test's own: the registrations other
	// tests' gateways leave behind (killed, not stopped) never see them.
	metricsWidgets := schema.GroupVersionResource{Group: "metrics.e2e.example.com", Version: "v1", Resource: "widgets"}
	metricsCRDOnce.Do(func() {
		applyCRD(t, strings.ReplaceAll(readTestdata(t, "widget-crd.yaml"), "e2e.example.com", metricsWidgets.Group))
	})
	ns := "metrics-e2e"
	ensureNamespace(t, ns, nil)
	widgetsIn := env.Dynamic.Resource(metricsWidgets).Namespace(ns)
	eventually(t, 30*time.Second, "widgets served", func() error {
		_, err := widgetsIn.List(ctx, metav1.ListOptions{})
		return err
	})
	n := startNotifyGatewayIn(t, "", func(k string) string { return k + metricsAdmission }, "--sync-interval", "1s")
	run := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)

	// Registration propagates asynchronously: wait until a dry run is
	// denied by the rule, then take the baseline.
	eventually(t, 20*time.Second, "validation active", func() error {
		_, err := widgetsIn.Create(ctx, metricsWidget("probe-"+run, map[string]any{"replicas": int64(50)}), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "replicas must be between 1 and 10") {
			return nil
		}
		return errorf("dry-run create of an invalid Widget: %v", err)
	})
	before := scrape(t, n.gateway)
	const (
		decisions = `orkestra_gateway_admission_decisions_total{operation="%s",result="%s",webhook="%s"}`
		requests  = `orkestra_gateway_admission_requests_total{code="%d",operation="%s",webhook="%s"}`
		denials   = `orkestra_gateway_admission_denials_total{rule="widget/replicas-range"}`
	)
	for _, s := range []string{
		fmt.Sprintf(decisions, "UPDATE", "allowed", "validate"),
		fmt.Sprintf(decisions, "DELETE", "allowed", "validate"),
		fmt.Sprintf(decisions, "DELETE", "denied", "deletion-protection"),
		fmt.Sprintf(requests, 200, "DELETE", "validate"),
		fmt.Sprintf(requests, 400, "", "validate"),
		`orkestra_gateway_notify_queue_full_total{destination="slack-webhook"}`,
	} {
		if v, ok := before.series[s]; !ok || v != 0 {
			t.Errorf("before any such request: %s = %v (present %v), want 0", s, v, ok)
		}
	}
	if _, ok := before.series[fmt.Sprintf(decisions, "CONNECT", "allowed", "validate")]; ok {
		t.Error("a CONNECT series exists before any CONNECT: the validate webhook is not registered for it")
	}

	// CREATE allowed, CREATE denied by the named rule, UPDATE, DELETE:
	// through the API server.
	w, err := widgetsIn.Create(ctx, metricsWidget("w-"+run, map[string]any{"replicas": int64(3)}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := widgetsIn.Create(ctx, metricsWidget("bad-"+run, map[string]any{"replicas": int64(20)}), metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "replicas must be between 1 and 10") {
		t.Fatalf("a Widget with 20 replicas: %v, want the rule's denial", err)
	}
	w.Object["spec"] = map[string]any{"replicas": int64(4)}
	if _, err := widgetsIn.Update(ctx, w, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := widgetsIn.Delete(ctx, w.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// CONNECT: the API server never sends one here (no registration has
	// it); a caller can, and its series appear then, bounded by the
	// decoder's four operations.
	review := map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
		"uid": "connect-" + run, "operation": "CONNECT",
		"kind":     map[string]any{"group": "", "version": "v1", "kind": "PodExecOptions"},
		"resource": map[string]any{"group": "", "version": "v1", "resource": "pods"}, "subResource": "exec",
		"name": "p", "namespace": ns, "userInfo": map[string]any{"username": "e2e"},
	}}
	b, _ := json.Marshal(review)
	resp, err := n.client.Post(fmt.Sprintf("https://127.0.0.1:%d/validate", n.webhookPort), "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT review: %d", resp.StatusCode)
	}
	// A /notify request, answered once delivered.
	n.mustPost(t, saToken(t, "orkestra-system", "orkestra-runtime"), "?wait=true", notifyEvent("m-"+run, "teamName", "alerts"), http.StatusOK)

	after := scrape(t, n.gateway)
	for s, delta := range map[string]float64{
		fmt.Sprintf(decisions, "CREATE", "allowed", "validate"):  1,
		fmt.Sprintf(decisions, "CREATE", "denied", "validate"):   1,
		fmt.Sprintf(decisions, "UPDATE", "allowed", "validate"):  1,
		fmt.Sprintf(decisions, "DELETE", "allowed", "validate"):  1,
		fmt.Sprintf(decisions, "CONNECT", "allowed", "validate"): 1,
		fmt.Sprintf(requests, 200, "CREATE", "validate"):         2,
		fmt.Sprintf(requests, 200, "UPDATE", "validate"):         1,
		fmt.Sprintf(requests, 200, "DELETE", "validate"):         1,
		fmt.Sprintf(requests, 200, "CONNECT", "validate"):        1,
		denials: 1,
		`orkestra_gateway_admission_audit_total{rule="widget/at-most-five"}`:                       1,
		`orkestra_gateway_notify_requests_total{code="200"}`:                                       1,
		`orkestra_gateway_notify_deliveries_total{destination="slack-webhook",result="delivered"}`: 1,
	} {
		got, ok := after.series[s]
		if !ok {
			t.Errorf("/metrics lacks %s", s)
			continue
		}
		if got-before.series[s] != delta {
			t.Errorf("%s: %v -> %v, want +%v", s, before.series[s], got, delta)
		}
	}
	for s, want := range map[string]float64{
		`orkestra_gateway_requests_in_flight{listener="webhook"}`: 0,
		`orkestra_gateway_requests_in_flight{listener="notify"}`:  0,
		`orkestra_gateway_requests_in_flight{listener="probe"}`:   1, // the scrape itself
		`orkestra_gateway_ready`:                                  1,
		`orkestra_gateway_webhook_body_bytes_in_flight`:           0,
	} {
		if got, ok := after.series[s]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", s, got, ok, want)
		}
	}
	build := regexp.MustCompile(`^orkestra_gateway_build_info\{commit="[^"]+",goversion="` + regexp.QuoteMeta(runtime.Version()) + `",tags="gateway",version="[^"]+"\}$`)
	found := 0
	for s, v := range after.series {
		if strings.HasPrefix(s, "orkestra_gateway_build_info") {
			found++
			if !build.MatchString(s) || v != 1 {
				t.Errorf("%s %v, want 1 with the gateway build's labels", s, v)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d build_info series, want 1", found)
	}

	// The Go runtime's and the process's standard families, as
	// dashboards and alerts for Go services query them, with values of a
	// live process; the latency histograms with their buckets.
	for name, typ := range map[string]dto.MetricType{
		"go_goroutines": dto.MetricType_GAUGE, "go_threads": dto.MetricType_GAUGE, "go_info": dto.MetricType_GAUGE,
		"go_gc_duration_seconds": dto.MetricType_SUMMARY, "go_memstats_alloc_bytes": dto.MetricType_GAUGE,
		"go_memstats_heap_inuse_bytes": dto.MetricType_GAUGE, "go_memstats_sys_bytes": dto.MetricType_GAUGE,
		"go_memstats_alloc_bytes_total": dto.MetricType_COUNTER, "go_gc_gogc_percent": dto.MetricType_GAUGE,
		"go_gc_gomemlimit_bytes": dto.MetricType_GAUGE, "go_sched_gomaxprocs_threads": dto.MetricType_GAUGE,
		"process_resident_memory_bytes": dto.MetricType_GAUGE, "process_virtual_memory_bytes": dto.MetricType_GAUGE,
		"process_cpu_seconds_total": dto.MetricType_COUNTER, "process_open_fds": dto.MetricType_GAUGE,
		"process_max_fds": dto.MetricType_GAUGE, "process_start_time_seconds": dto.MetricType_GAUGE,
	} {
		f := after.parsed[name]
		switch {
		case f == nil:
			t.Errorf("/metrics lacks %s", name)
		case f.GetType() != typ:
			t.Errorf("%s is a %s, want a %s", name, f.GetType(), typ)
		case typ != dto.MetricType_SUMMARY && f.GetMetric()[0].GetGauge().GetValue()+f.GetMetric()[0].GetCounter().GetValue() <= 0:
			t.Errorf("%s = %v", name, f.GetMetric()[0])
		}
	}
	if rss := after.series["process_resident_memory_bytes"]; rss < 1<<20 || rss > 1<<30 {
		t.Errorf("process_resident_memory_bytes = %v", rss)
	}
	if start := after.series["process_start_time_seconds"]; math.Abs(start-float64(time.Now().Unix())) > 600 {
		t.Errorf("process_start_time_seconds = %v, now is %d", start, time.Now().Unix())
	}
	latency := after.parsed["orkestra_gateway_admission_request_duration_seconds"]
	for _, m := range latency.GetMetric() {
		h := m.GetHistogram()
		if b := h.GetBucket(); len(b) != 14 || !math.IsInf(b[13].GetUpperBound(), 1) || b[13].GetCumulativeCount() != h.GetSampleCount() {
			t.Errorf("admission latency %v: want 13 bounds and +Inf holding the count", m)
		}
	}
	if len(latency.GetMetric()) == 0 {
		t.Error("no admission latency series")
	}

	// Every metric the dashboard and the alerts query is exported.
	queried := map[string]string{}
	for _, m := range dashboardQueries(t) {
		queried[m] = "the Grafana dashboard"
	}
	for _, m := range alertQueries(t, n.katalog) {
		queried[m] = "the PrometheusRule"
	}
	for m, by := range queried {
		if !after.families[m] {
			t.Errorf("%s queries %s, which the gateway does not export", by, m)
		}
	}
	if len(queried) < 30 {
		t.Errorf("only %d metrics queried: the dashboard was not read", len(queried))
	}
}

var metricsCRDOnce sync.Once

var queriedMetric = regexp.MustCompile(`\b(orkestra_gateway_[a-z_]+)`)

// family is the family of a queried series name (a histogram's _bucket).
func family(name string) string {
	if base, ok := strings.CutSuffix(name, "_bucket"); ok {
		return base
	}
	return name
}

// dashboardQueries are the metric families docs/grafana-dashboard.json
// queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	var out []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range queriedMetric.FindAllStringSubmatch(tg.Expr, -1) {
				out = append(out, family(m[1]))
			}
		}
	}
	return out
}

// alertQueries are the metric families the bundle's PrometheusRule for the
// Katalog at path queries.
func alertQueries(t *testing.T, path string) []string {
	t.Helper()
	src, res, err := bundle.Load(path)
	if err != nil || src == nil {
		t.Fatalf("%s: %v %v", path, err, res)
	}
	b, err := bundle.Generate(src, bundle.Options{Image: "gw:e2e", Monitoring: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range b.Objects {
		if o.Kind != "PrometheusRule" {
			continue
		}
		var rule struct {
			Spec struct {
				Groups []struct {
					Rules []struct {
						Expr string `json:"expr"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(o.YAML, &rule); err != nil {
			t.Fatal(err)
		}
		for _, g := range rule.Spec.Groups {
			for _, r := range g.Rules {
				for _, m := range queriedMetric.FindAllStringSubmatch(r.Expr, -1) {
					out = append(out, family(m[1]))
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the bundle has no PrometheusRule")
	}
	return out
}

// metricsWidget is a Widget of the test's own group.
func metricsWidget(name string, spec map[string]any) *unstructured.Unstructured {
	w := widget(name, spec)
	w.SetAPIVersion("metrics.e2e.example.com/v1")
	return w
}
