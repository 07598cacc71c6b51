package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// pluginDuration is the API server's histogram of the time each admission
// plugin takes per request. The ValidatingAdmissionPolicy plugin's share
// of a variant's creates is the cost of the policies matching it (their
// evaluation, with the plugin's own matching), without the request's
// network and storage: far steadier than end-to-end latency on a shared
// machine.
const pluginDuration = "apiserver_admission_controller_admission_duration_seconds"

// vapPlugin is the admission plugin that evaluates ValidatingAdmissionPolicies.
const vapPlugin = "ValidatingAdmissionPolicy"

// pluginTime is a count of the plugin's validating CREATE calls and the
// seconds they took: the totals the API server reports, or what one
// variant's batches added to them.
type pluginTime struct {
	n   uint64
	sum float64
}

// scrapePlugin reads the ValidatingAdmissionPolicy plugin's CREATE totals
// from the API server's metrics.
func (h *harness) scrapePlugin(ctx context.Context) (pluginTime, error) {
	raw, err := h.env.Clientset.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return pluginTime{}, fmt.Errorf("the API server's metrics: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return pluginTime{}, fmt.Errorf("the API server's metrics: %w", err)
	}
	var t pluginTime
	for _, m := range fams[pluginDuration].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["name"] == vapPlugin && labels["type"] == "validate" && labels["operation"] == "CREATE" {
			t.n += m.GetHistogram().GetSampleCount()
			t.sum += m.GetHistogram().GetSampleSum()
		}
	}
	if t.n == 0 {
		return t, fmt.Errorf("the API server's metrics have no %s{name=%q}", pluginDuration, vapPlugin)
	}
	return t, nil
}

// add counts what happened between two scrapes around a batch.
func (s *pluginTime) add(before, after pluginTime) {
	s.n += after.n - before.n
	s.sum += after.sum - before.sum
}

// meanMicros is the plugin's mean time per create, in microseconds.
func (s pluginTime) meanMicros() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / float64(s.n) * 1e6
}
