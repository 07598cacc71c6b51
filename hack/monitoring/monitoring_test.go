package monitoring

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
)

var promql = parser.NewParser(parser.Options{})

// The PrometheusRule of every example's bundle is a valid Prometheus rule
// file: rulefmt parses its groups strictly (no unknown field), parses every
// expression and every annotation template, as `promtool check rules`
// does.
func TestPrometheusRuleIsValid(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "katalog.yaml"))
	if len(examples) == 0 {
		t.Fatal("no example Katalog")
	}
	for _, k := range examples {
		t.Run(filepath.Base(filepath.Dir(k)), func(t *testing.T) {
			src, res, err := bundle.Load(k)
			if err != nil || src == nil {
				t.Fatalf("%v %v", err, res)
			}
			b, err := bundle.Generate(src, bundle.Options{Image: "gw:v1", Monitoring: true})
			if err != nil {
				t.Fatal(err)
			}
			var spec []byte
			for _, o := range b.Objects {
				if o.Kind != "PrometheusRule" {
					continue
				}
				var obj struct {
					Spec json.RawMessage `json:"spec"`
				}
				if err := yaml.Unmarshal(o.YAML, &obj); err != nil {
					t.Fatal(err)
				}
				if spec, err = yaml.JSONToYAML(obj.Spec); err != nil {
					t.Fatal(err)
				}
			}
			if spec == nil {
				t.Fatal("no PrometheusRule in the bundle")
			}
			groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
			for _, e := range errs {
				t.Errorf("rulefmt: %v", e)
			}
			if groups == nil || len(groups.Groups) != 1 || len(groups.Groups[0].Rules) < 6 {
				t.Fatalf("parsed %+v", groups)
			}
			for _, r := range groups.Groups[0].Rules {
				if r.Alert == "" || r.Annotations["runbook_url"] == "" || r.Annotations["description"] == "" {
					t.Errorf("rule %+v: an alert with a description and a runbook_url", r)
				}
			}
		})
	}
}

// A bad rule is refused: the check above can fail.
func TestRulefmtRefusesABadExpression(t *testing.T) {
	bad := []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate(x[5m]) > \n")
	if _, errs := rulefmt.Parse(bad, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler)); len(errs) == 0 {
		t.Fatal("rulefmt accepted a malformed expression")
	}
}

// Every query of the Grafana dashboard parses as PromQL once Grafana's
// variables are replaced by values, and selects the installation's
// namespace and job.
func TestDashboardQueriesParse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*", "$job", ".*")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			if _, err := promql.ParseExpr(vars.Replace(tg.Expr)); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, tg.Expr, err)
			}
			if !strings.Contains(tg.Expr, `namespace=~"$namespace", job=~"$job"`) {
				t.Errorf("panel %q does not select the dashboard's namespace and job: %s", p.Title, tg.Expr)
			}
		}
	}
	if n < 30 {
		t.Errorf("%d queries: the dashboard was not read", n)
	}
}
