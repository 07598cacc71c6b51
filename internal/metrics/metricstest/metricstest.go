// Package metricstest reads the gateway's metrics as a Prometheus server
// and the Prometheus client library see them, for tests: the text
// exposition parsed by the Prometheus text parser, and the collectors
// adapted to the client library's Collector (its pedantic registry, lint
// and text writer are the references the gateway's exposition is held to).
// It is never linked into the gateway.
package metricstest

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
)

// Parse parses a text exposition (version 0.0.4) with the Prometheus text
// parser, metric and label names held to the classic character set, and
// returns its families sorted by name.
func Parse(r io.Reader) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return fams, nil
}

// Text is the exposition of cs as /metrics writes it.
func Text(cs ...metrics.Collector) (string, error) {
	var b bytes.Buffer
	err := metrics.WriteText(&b, metrics.Gather(cs...))
	return b.String(), err
}

// Families writes the exposition of cs and parses it back.
func Families(cs ...metrics.Collector) ([]*dto.MetricFamily, error) {
	text, err := Text(cs...)
	if err != nil {
		return nil, err
	}
	fams, err := Parse(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parsing the exposition: %w\n%s", err, text)
	}
	return fams, nil
}

// Gatherer is cs as the client library's test helpers (testutil's
// GatherAndCompare, GatherAndCount, promlint) read a registry: their text
// exposition, parsed.
func Gatherer(cs ...metrics.Collector) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return Families(cs...) })
}

// Count is the number of series of the families named in the parsed
// exposition of c (of every family when none is named), as the client
// library's testutil.CollectAndCount counts them. It fails t when the
// exposition does not parse.
func Count(t testing.TB, c metrics.Collector, names ...string) int {
	t.Helper()
	fams, err := Families(c)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fams {
		if len(names) == 0 || slices.Contains(names, f.GetName()) {
			n += len(f.GetMetric())
		}
	}
	return n
}

// Collector adapts c to the client library's Collector: each Desc becomes
// a prometheus.Desc, each sample a constant metric of it, so that the
// library's registry checks the families (names, helps, label sets,
// consistency of what is described and collected) and its writer renders
// them.
func Collector(c metrics.Collector) prometheus.Collector { return adapter{c} }

type adapter struct{ c metrics.Collector }

func promDesc(d *metrics.Desc) *prometheus.Desc {
	consts := prometheus.Labels{}
	for _, l := range d.ConstLabels {
		consts[l.Name] = l.Value
	}
	return prometheus.NewDesc(d.Name, d.Help, d.Labels, consts)
}

// Describe implements prometheus.Collector.
func (a adapter) Describe(ch chan<- *prometheus.Desc) {
	a.c.Describe(func(d *metrics.Desc) { ch <- promDesc(d) })
}

// Collect implements prometheus.Collector.
func (a adapter) Collect(ch chan<- prometheus.Metric) {
	a.c.Collect(func(d *metrics.Desc, s metrics.Sample) {
		pd := promDesc(d)
		var (
			m   prometheus.Metric
			err error
		)
		switch d.Type {
		case metrics.TypeCounter:
			m, err = prometheus.NewConstMetric(pd, prometheus.CounterValue, s.Value, s.LabelValues...)
		case metrics.TypeGauge:
			m, err = prometheus.NewConstMetric(pd, prometheus.GaugeValue, s.Value, s.LabelValues...)
		case metrics.TypeHistogram:
			buckets := map[float64]uint64{}
			for i, b := range d.Buckets {
				buckets[b] = s.Buckets[i]
			}
			m, err = prometheus.NewConstHistogram(pd, s.Count, s.Sum, buckets, s.LabelValues...)
		case metrics.TypeSummary:
			qs := map[float64]float64{}
			for _, q := range s.Quantiles {
				qs[q.Quantile] = q.Value
			}
			m, err = prometheus.NewConstSummary(pd, s.Count, s.Sum, qs, s.LabelValues...)
		default:
			err = fmt.Errorf("%s: type %v", d.Name, d.Type)
		}
		if err != nil {
			m = prometheus.NewInvalidMetric(pd, err)
		}
		ch <- m
	})
}

// ClientText is the exposition the client library writes for the
// families of its registry reg (the reference the gateway's own writer is
// compared with).
func ClientText(reg prometheus.Gatherer) (string, error) {
	fams, err := reg.Gather()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}
