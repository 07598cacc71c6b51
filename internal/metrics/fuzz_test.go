package metrics_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

// Any label value and help text reads back through the Prometheus text
// parser as it was given (a help without its leading blanks) (an invalid UTF-8 value as its replacement), and
// the exposition is the client library's for it.
func FuzzLabelValueRoundTrip(f *testing.F) {
	for _, v := range tricky {
		f.Add(v, "Help.")
	}
	f.Add("a\xffb", "Help with \\ and \n.")
	f.Add(`\"`+"\n\\n", `\\n`)
	f.Fuzz(func(t *testing.T, value, help string) {
		if strings.TrimSpace(help) == "" || !utf8.ValidString(help) {
			return // the program's own helps: the registry refuses an empty one
		}
		v := metrics.NewCounterVec(metrics.Opts{Name: "f_total", Help: help}, []string{"l"})
		v.WithLabelValues(value).Add(2)
		fams, err := metricstest.Families(v)
		if err != nil {
			t.Fatal(err)
		}
		if len(fams) != 1 || len(fams[0].GetMetric()) != 1 {
			t.Fatalf("families %v", fams)
		}
		want := strings.ToValidUTF8(value, "\uFFFD")
		m := fams[0].GetMetric()[0]
		if got := m.GetLabel()[0].GetValue(); got != want || m.GetCounter().GetValue() != 2 {
			t.Errorf("label value %q read back as %q (value %v)", value, got, m.GetCounter().GetValue())
		}
		// The text format cannot carry a help's leading blanks: the parser
		// skips them (the client library's exposition is the same).
		if fams[0].GetHelp() != strings.TrimLeft(help, " \t") {
			t.Errorf("help %q read back as %q", help, fams[0].GetHelp())
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(metricstest.Collector(v))
		theirs, err := metricstest.ClientText(reg)
		if err != nil {
			t.Fatal(err)
		}
		if ours, _ := metricstest.Text(v); ours != theirs {
			t.Errorf("exposition %q, the client library writes %q", ours, theirs)
		}
	})
}
