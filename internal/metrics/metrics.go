// Package metrics is the gateway's Prometheus exposition: counters, gauges,
// gauge functions and histograms (with fixed upper bounds, exported as the
// `le` buckets histogram_quantile reads), families with fixed label names,
// a registry that refuses conflicting families, the Go runtime's and the
// process's standard metrics, and /metrics in the text format a Prometheus
// server scrapes (version 0.0.4).
//
// It exists for the size of the gateway binary: the Prometheus client
// library links a protobuf runtime, procfs and a generic collector
// machinery the gateway does not need. The exposition is the client
// library's byte for byte (a test compares them), so dashboards, alerts and
// scrapers see no difference.
//
// Updates are lock-free (atomic adds; a compare-and-swap loop for the
// fractional parts of float values); a family's series are created under a
// mutex, then looked up under a read lock. Hot paths keep the series they
// count into and never look them up.
package metrics

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Type is the type of a metric family.
type Type uint8

// The types of families.
const (
	TypeCounter Type = iota + 1
	TypeGauge
	TypeHistogram
	TypeSummary
)

// String is the type as the TYPE line names it.
func (t Type) String() string {
	switch t {
	case TypeCounter:
		return "counter"
	case TypeGauge:
		return "gauge"
	case TypeHistogram:
		return "histogram"
	case TypeSummary:
		return "summary"
	}
	return "untyped"
}

// Labels are constant labels, by name.
type Labels map[string]string

// LabelPair is a label of a series.
type LabelPair struct {
	Name, Value string
}

// Opts name a counter, gauge or gauge function family.
type Opts struct {
	Name, Help string
	// ConstLabels are the labels every series of the family carries, with
	// the same value: several collectors may export one family, told apart
	// by their constant labels.
	ConstLabels Labels
}

// HistogramOpts name a histogram family and its buckets.
type HistogramOpts struct {
	Name, Help  string
	ConstLabels Labels
	// Buckets are the upper bounds, ascending; +Inf is implied.
	Buckets []float64
}

// Desc describes a family as one collector exports it.
type Desc struct {
	Name, Help string
	Type       Type
	// ConstLabels are sorted by name.
	ConstLabels []LabelPair
	// Labels are the names of the variable labels, in the order their
	// values are given.
	Labels []string
	// Buckets are a histogram's upper bounds, ascending, without +Inf.
	Buckets []float64
}

func newDesc(name, help string, t Type, constLabels Labels, labels []string, buckets []float64) *Desc {
	d := &Desc{Name: name, Help: help, Type: t, Labels: slices.Clone(labels), Buckets: slices.Clone(buckets)}
	for n, v := range constLabels {
		d.ConstLabels = append(d.ConstLabels, LabelPair{n, v})
	}
	slices.SortFunc(d.ConstLabels, func(a, b LabelPair) int { return strings.Compare(a.Name, b.Name) })
	return d
}

// Quantile is a quantile of a summary.
type Quantile struct {
	Quantile, Value float64
}

// Sample is the value of one series when it is collected.
type Sample struct {
	// LabelValues are the values of the Desc's variable labels.
	LabelValues []string
	// Value is a counter's or a gauge's value.
	Value float64
	// Count and Sum are a histogram's or a summary's; Buckets are a
	// histogram's cumulative counts, one per upper bound of the Desc
	// (+Inf's is Count), Quantiles a summary's.
	Count     uint64
	Sum       float64
	Buckets   []uint64
	Quantiles []Quantile
}

// Collector exports metric families.
type Collector interface {
	// Describe calls f with the Desc of every family the collector
	// exports, whether it has series yet or not.
	Describe(f func(*Desc))
	// Collect calls f with every series the collector holds now.
	Collect(f func(*Desc, Sample))
}

// Collectors is a fixed list of collectors that is itself one Collector. A
// package's metrics embed the list of their families, built once with
// them, so registering the package's metrics registers every family, once.
type Collectors []Collector

// Describe implements Collector.
func (cs Collectors) Describe(f func(*Desc)) {
	for _, c := range cs {
		c.Describe(f)
	}
}

// Collect implements Collector.
func (cs Collectors) Collect(f func(*Desc, Sample)) {
	for _, c := range cs {
		c.Collect(f)
	}
}

// floatBits is a float64 updated atomically.
type floatBits struct{ bits atomic.Uint64 }

func (f *floatBits) load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *floatBits) store(v float64) { f.bits.Store(math.Float64bits(v)) }

func (f *floatBits) add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Counter is a value that only goes up.
type Counter struct {
	desc   *Desc
	values []string
	n      atomic.Uint64 // whole increments: one atomic add
	frac   floatBits     // anything else
}

// NewCounter returns a counter family of one series, at zero.
func NewCounter(o Opts) *Counter {
	return &Counter{desc: newDesc(o.Name, o.Help, TypeCounter, o.ConstLabels, nil, nil)}
}

// Inc adds 1.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds v, which must not be negative: a counter never goes down.
func (c *Counter) Add(v float64) {
	switch {
	case v < 0:
		panic(fmt.Sprintf("metrics: counter %s cannot decrease (Add(%v))", c.desc.Name, v))
	case v == math.Trunc(v) && v < 1<<53:
		c.n.Add(uint64(v))
	default:
		c.frac.add(v)
	}
}

// Value is the counter's value.
func (c *Counter) Value() float64 { return float64(c.n.Load()) + c.frac.load() }

// Describe implements Collector.
func (c *Counter) Describe(f func(*Desc)) { f(c.desc) }

// Collect implements Collector.
func (c *Counter) Collect(f func(*Desc, Sample)) {
	f(c.desc, Sample{LabelValues: c.values, Value: c.Value()})
}

// Gauge is a value that goes up and down.
type Gauge struct {
	desc   *Desc
	values []string
	v      floatBits
}

// NewGauge returns a gauge family of one series, at zero.
func NewGauge(o Opts) *Gauge {
	return &Gauge{desc: newDesc(o.Name, o.Help, TypeGauge, o.ConstLabels, nil, nil)}
}

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.v.store(v) }

// Add adds v (which may be negative).
func (g *Gauge) Add(v float64) { g.v.add(v) }

// Sub subtracts v.
func (g *Gauge) Sub(v float64) { g.v.add(-v) }

// Inc adds 1.
func (g *Gauge) Inc() { g.v.add(1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.v.add(-1) }

// Value is the gauge's value.
func (g *Gauge) Value() float64 { return g.v.load() }

// Describe implements Collector.
func (g *Gauge) Describe(f func(*Desc)) { f(g.desc) }

// Collect implements Collector.
func (g *Gauge) Collect(f func(*Desc, Sample)) {
	f(g.desc, Sample{LabelValues: g.values, Value: g.Value()})
}

// GaugeFunc is a gauge whose value a function gives when it is collected.
type GaugeFunc struct {
	desc *Desc
	f    func() float64
}

// NewGaugeFunc returns a gauge family of one series whose value is f()
// (called at every collection, possibly concurrently).
func NewGaugeFunc(o Opts, f func() float64) *GaugeFunc {
	return &GaugeFunc{desc: newDesc(o.Name, o.Help, TypeGauge, o.ConstLabels, nil, nil), f: f}
}

// Describe implements Collector.
func (g *GaugeFunc) Describe(f func(*Desc)) { f(g.desc) }

// Collect implements Collector.
func (g *GaugeFunc) Collect(f func(*Desc, Sample)) { f(g.desc, Sample{Value: g.f()}) }

// Histogram counts observations in buckets of fixed upper bounds.
type Histogram struct {
	desc   *Desc
	values []string
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf's
	sum    floatBits
}

func newHistogram(d *Desc, values []string) *Histogram {
	return &Histogram{desc: d, values: values, counts: make([]atomic.Uint64, len(d.Buckets)+1)}
}

// Observe counts v in the first bucket whose upper bound is at least v.
func (h *Histogram) Observe(v float64) {
	i := 0
	for i < len(h.desc.Buckets) && v > h.desc.Buckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.add(v)
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

func (h *Histogram) sample() Sample {
	s := Sample{LabelValues: h.values, Buckets: make([]uint64, len(h.desc.Buckets))}
	// The count is the sum of the buckets read, so +Inf's bucket always
	// equals it; the sum may lag an observation being made.
	for i := range h.counts {
		s.Count += h.counts[i].Load()
		if i < len(s.Buckets) {
			s.Buckets[i] = s.Count
		}
	}
	s.Sum = h.sum.load()
	return s
}

// vec is a family with variable labels: one series per set of values,
// created on first use and kept.
type vec[T any] struct {
	desc   *Desc
	newFor func(values []string) *T

	mu     sync.RWMutex
	series map[string]*T // by key(values)
}

func newVec[T any](d *Desc, newFor func([]string) *T) vec[T] {
	for _, l := range d.Labels {
		if l == "" {
			panic("metrics: " + d.Name + ": an empty label name")
		}
	}
	return vec[T]{desc: d, newFor: newFor, series: map[string]*T{}}
}

// with returns the series of values, creating it at zero.
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.desc.Labels) {
		panic(fmt.Sprintf("metrics: %s has labels %q, got %d values %q", v.desc.Name, v.desc.Labels, len(values), values))
	}
	var buf [128]byte
	key := appendKey(buf[:0], values)
	v.mu.RLock()
	s, ok := v.series[string(key)]
	v.mu.RUnlock()
	if ok {
		return s
	}
	// Label values are text: an invalid UTF-8 sequence would make the
	// exposition unreadable, so it is replaced (a series of the replaced
	// value, the same for every spelling of it).
	own := make([]string, len(values))
	for i, s := range values {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		own[i] = strings.Clone(s)
	}
	key = appendKey(key[:0], own)
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.series[string(key)]; ok {
		return s
	}
	s = v.newFor(own)
	v.series[string(key)] = s
	return s
}

// appendKey appends the key of a series: each value after its length, so
// that no two lists of values share a key.
func appendKey(key []byte, values []string) []byte {
	for _, s := range values {
		key = append(binary.AppendUvarint(key, uint64(len(s))), s...)
	}
	return key
}

// each calls f with every series, under the read lock.
func (v *vec[T]) each(f func(*T)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, s := range v.series {
		f(s)
	}
}

// CounterVec is a counter family with variable labels.
type CounterVec struct{ vec[Counter] }

// NewCounterVec returns a counter family with the variable labels, with no
// series yet.
func NewCounterVec(o Opts, labels []string) *CounterVec {
	d := newDesc(o.Name, o.Help, TypeCounter, o.ConstLabels, labels, nil)
	return &CounterVec{newVec(d, func(values []string) *Counter { return &Counter{desc: d, values: values} })}
}

// WithLabelValues returns the counter of the label values (as many as the
// family has labels, in their order), creating it at zero.
func (v *CounterVec) WithLabelValues(values ...string) *Counter { return v.with(values) }

// Describe implements Collector.
func (v *CounterVec) Describe(f func(*Desc)) { f(v.desc) }

// Collect implements Collector.
func (v *CounterVec) Collect(f func(*Desc, Sample)) { v.each(func(c *Counter) { c.Collect(f) }) }

// GaugeVec is a gauge family with variable labels.
type GaugeVec struct{ vec[Gauge] }

// NewGaugeVec returns a gauge family with the variable labels, with no
// series yet.
func NewGaugeVec(o Opts, labels []string) *GaugeVec {
	d := newDesc(o.Name, o.Help, TypeGauge, o.ConstLabels, labels, nil)
	return &GaugeVec{newVec(d, func(values []string) *Gauge { return &Gauge{desc: d, values: values} })}
}

// WithLabelValues returns the gauge of the label values, creating it at zero.
func (v *GaugeVec) WithLabelValues(values ...string) *Gauge { return v.with(values) }

// Describe implements Collector.
func (v *GaugeVec) Describe(f func(*Desc)) { f(v.desc) }

// Collect implements Collector.
func (v *GaugeVec) Collect(f func(*Desc, Sample)) { v.each(func(g *Gauge) { g.Collect(f) }) }

// HistogramVec is a histogram family with variable labels.
type HistogramVec struct{ vec[Histogram] }

// NewHistogramVec returns a histogram family with the variable labels, with
// no series yet. The buckets must be ascending.
func NewHistogramVec(o HistogramOpts, labels []string) *HistogramVec {
	if !slices.IsSorted(o.Buckets) || slices.ContainsFunc(o.Buckets, func(b float64) bool { return math.IsNaN(b) || math.IsInf(b, 0) }) ||
		len(slices.Compact(slices.Clone(o.Buckets))) != len(o.Buckets) {
		panic(fmt.Sprintf("metrics: %s: buckets %v are not strictly ascending finite bounds", o.Name, o.Buckets))
	}
	d := newDesc(o.Name, o.Help, TypeHistogram, o.ConstLabels, labels, o.Buckets)
	return &HistogramVec{newVec(d, func(values []string) *Histogram { return newHistogram(d, values) })}
}

// WithLabelValues returns the histogram of the label values, creating it
// empty.
func (v *HistogramVec) WithLabelValues(values ...string) *Histogram { return v.with(values) }

// Describe implements Collector.
func (v *HistogramVec) Describe(f func(*Desc)) { f(v.desc) }

// Collect implements Collector.
func (v *HistogramVec) Collect(f func(*Desc, Sample)) {
	v.each(func(h *Histogram) { f(v.desc, h.sample()) })
}
