package metrics

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Registry is the set of collectors /metrics exposes. Register checks what
// a Prometheus server would refuse or misread: invalid names, a family
// exported with two helps, types or label sets, the same series twice.
type Registry struct {
	mu    sync.Mutex
	cs    []Collector
	descs map[string]*Desc // by name: the first registered
	ids   map[string]bool  // name and constant label values of every Desc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{descs: map[string]*Desc{}, ids: map[string]bool{}}
}

// Register adds c, or says why its families cannot be exported with those
// already registered (then nothing of c is registered).
func (r *Registry) Register(c Collector) error {
	var descs []*Desc
	c.Describe(func(d *Desc) { descs = append(descs, d) })
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[string]bool{}
	for _, d := range descs {
		if err := validate(d); err != nil {
			return err
		}
		if prev, ok := r.descs[d.Name]; ok {
			if err := compatible(prev, d); err != nil {
				return err
			}
		}
		id := d.Name
		for _, l := range d.ConstLabels {
			id += "\xff" + l.Value
		}
		if r.ids[id] || ids[id] {
			return fmt.Errorf("metrics: %s with constant labels %v is registered twice", d.Name, d.ConstLabels)
		}
		ids[id] = true
	}
	for _, d := range descs {
		if _, ok := r.descs[d.Name]; !ok {
			r.descs[d.Name] = d
		}
	}
	for id := range ids {
		r.ids[id] = true
	}
	r.cs = append(r.cs, c)
	return nil
}

// MustRegister registers each collector and panics if one cannot be: the
// families are the program's own, so that is a bug found at start-up.
func (r *Registry) MustRegister(cs ...Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func validate(d *Desc) error {
	if !metricName.MatchString(d.Name) {
		return fmt.Errorf("metrics: %q is not a valid metric name", d.Name)
	}
	if strings.TrimSpace(d.Help) == "" {
		return fmt.Errorf("metrics: %s has no help", d.Name)
	}
	if d.Type < TypeCounter || d.Type > TypeSummary {
		return fmt.Errorf("metrics: %s has no type", d.Name)
	}
	seen := map[string]bool{}
	for _, l := range labelNames(d) {
		switch {
		case !labelName.MatchString(l) || strings.HasPrefix(l, "__"):
			return fmt.Errorf("metrics: %s: %q is not a valid label name", d.Name, l)
		case seen[l]:
			return fmt.Errorf("metrics: %s: label %q twice", d.Name, l)
		case l == "le" && d.Type == TypeHistogram, l == "quantile" && d.Type == TypeSummary:
			return fmt.Errorf("metrics: %s: label %q is reserved for its %s", d.Name, l, d.Type)
		}
		seen[l] = true
	}
	return nil
}

// compatible says whether two Descs of one name can be one family.
func compatible(a, b *Desc) error {
	switch {
	case a.Help != b.Help:
		return fmt.Errorf("metrics: %s registered with two helps: %q and %q", a.Name, a.Help, b.Help)
	case a.Type != b.Type:
		return fmt.Errorf("metrics: %s registered as a %s and a %s", a.Name, a.Type, b.Type)
	case !slices.Equal(sortedLabelNames(a), sortedLabelNames(b)):
		return fmt.Errorf("metrics: %s registered with labels %v and %v", a.Name, sortedLabelNames(a), sortedLabelNames(b))
	case !slices.Equal(a.Buckets, b.Buckets):
		return fmt.Errorf("metrics: %s registered with buckets %v and %v", a.Name, a.Buckets, b.Buckets)
	}
	return nil
}

func labelNames(d *Desc) []string {
	names := make([]string, 0, len(d.ConstLabels)+len(d.Labels))
	for _, l := range d.ConstLabels {
		names = append(names, l.Name)
	}
	return append(names, d.Labels...)
}

func sortedLabelNames(d *Desc) []string {
	names := labelNames(d)
	slices.Sort(names)
	return names
}

// Describe implements Collector: the registry's families, so that a
// registry can be read like any collector (Gather, Value).
func (r *Registry) Describe(f func(*Desc)) {
	r.mu.Lock()
	cs := slices.Clone(r.cs)
	r.mu.Unlock()
	Collectors(cs).Describe(f)
}

// Collect implements Collector.
func (r *Registry) Collect(f func(*Desc, Sample)) {
	r.mu.Lock()
	cs := slices.Clone(r.cs)
	r.mu.Unlock()
	Collectors(cs).Collect(f)
}

// Family is a metric family as it is exposed: its series sorted by their
// label values.
type Family struct {
	Name, Help string
	Type       Type
	// Buckets are a histogram's upper bounds.
	Buckets []float64
	Series  []Series
}

// Series is one series of a family.
type Series struct {
	// Labels are sorted by name.
	Labels []LabelPair
	Sample
}

// Gather collects every registered collector.
func (r *Registry) Gather() []Family { return Gather(r) }

// Gather collects the collectors into families sorted by name, the series
// of each sorted by their label values (as the Prometheus client library
// orders them). A family without series is left out.
func Gather(cs ...Collector) []Family {
	byName := map[string]*Family{}
	for _, c := range cs {
		c.Collect(func(d *Desc, s Sample) {
			f := byName[d.Name]
			if f == nil {
				f = &Family{Name: d.Name, Help: d.Help, Type: d.Type, Buckets: d.Buckets}
				byName[d.Name] = f
			}
			ls := make([]LabelPair, 0, len(d.ConstLabels)+len(d.Labels))
			ls = append(ls, d.ConstLabels...)
			for i, n := range d.Labels {
				ls = append(ls, LabelPair{n, s.LabelValues[i]})
			}
			slices.SortFunc(ls, func(a, b LabelPair) int { return strings.Compare(a.Name, b.Name) })
			f.Series = append(f.Series, Series{Labels: ls, Sample: s})
		})
	}
	fams := make([]Family, 0, len(byName))
	for _, f := range byName {
		slices.SortFunc(f.Series, compareSeries)
		fams = append(fams, *f)
	}
	slices.SortFunc(fams, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	return fams
}

func compareSeries(a, b Series) int {
	if len(a.Labels) != len(b.Labels) {
		return len(a.Labels) - len(b.Labels)
	}
	for i := range a.Labels {
		if c := strings.Compare(a.Labels[i].Value, b.Labels[i].Value); c != 0 {
			return c
		}
	}
	return 0
}

// errNoSeries is returned by Value when the family has no such series.
var errNoSeries = errors.New("no such series")

// Value returns the value of the series of family name whose labels
// include the pairs given as name, value, name, value...: for tests and
// tools reading a collector.
func Value(c Collector, name string, labels ...string) (float64, error) {
	for _, f := range Gather(c) {
		if f.Name != name {
			continue
		}
	series:
		for _, s := range f.Series {
			for i := 0; i+1 < len(labels); i += 2 {
				if !slices.Contains(s.Labels, LabelPair{labels[i], labels[i+1]}) {
					continue series
				}
			}
			return s.Value, nil
		}
	}
	return 0, fmt.Errorf("%s%q: %w", name, labels, errNoSeries)
}
