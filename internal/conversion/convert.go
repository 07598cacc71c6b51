package conversion

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Options are the dependencies of a Converter; every field is optional.
type Options struct {
	// Logger receives a line per failed ConversionReview, per malformed
	// request and per preserved field dropped. Default: discard.
	Logger *slog.Logger
	// Metrics receives the conversion metrics (NewMetrics, registered once
	// by the caller). Nil: private, unregistered collectors.
	Metrics *Metrics
	// Listener is the webhook listener's shared state (budget, log
	// limiter) for /convert. Nil: a private one without a budget.
	Listener *webhook.Listener
	// MaxBodyBytes bounds a ConversionReview body (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxPreservedBytes bounds the preserved-fields annotation
	// (defaultMaxPreservedBytes).
	MaxPreservedBytes int
	// Key returns the key that seals the preserved-fields annotation (at
	// least MinKeyBytes; every replica must return the same). It is called
	// per object, so a key the caller replaces takes effect at once. Nil:
	// a random key of this Converter, so its annotations verify only in
	// this process.
	Key func() []byte
}

// Converter converts the custom resources of every Katalog CRD entry with
// a conversion block. It is safe for concurrent use, and it is the
// http.Handler of /convert (see ServeHTTP).
type Converter struct {
	plans        map[groupKind]*plan
	log          *slog.Logger
	m            *converterMetrics
	handler      http.Handler // the envelope of /convert (ServeHTTP)
	maxBody      int64
	maxPreserved int
	key          func() []byte
	now          func() time.Time
}

type groupKind struct{ group, kind string }

// plan is one CRD's compiled conversion.
type plan struct {
	group, kind string
	storage     string
	versions    []string
	schemas     map[string]*node // nil values: unknown
	routes      map[[2]string][]*leg
	scopes      map[[2]string]*scope // what a preserved entry of a pair may restore
}

// New compiles the conversion blocks of p. CRDs are keyed by group and
// kind; an error means the policy was not built by the check pass.
func New(p *policy.Policy, opts Options) (*Converter, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Converter{
		plans:        map[groupKind]*plan{},
		log:          log,
		maxBody:      opts.MaxBodyBytes,
		maxPreserved: opts.MaxPreservedBytes,
		now:          time.Now,
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.maxPreserved <= 0 {
		c.maxPreserved = defaultMaxPreservedBytes
	}
	if c.key = opts.Key; c.key == nil {
		k, err := randomKey()
		if err != nil {
			return nil, err
		}
		c.key = func() []byte { return k }
	}
	if p == nil {
		c.m = newMetrics(opts.Metrics, nil)
		c.handler = c.endpoint(opts.Listener)
		return c, nil
	}
	var errs []error
	for _, crd := range p.CRDs {
		if crd == nil || crd.Conversion == nil {
			continue
		}
		pl, err := compile(crd)
		if err != nil {
			errs = append(errs, fmt.Errorf("CRD entry %s (%s): %w", crd.Name, crd.CRDName(), err))
			continue
		}
		gk := groupKind{crd.Group, crd.Kind}
		if _, dup := c.plans[gk]; dup {
			errs = append(errs, fmt.Errorf("CRD entry %s: kind %s of group %s has two conversion blocks", crd.Name, crd.Kind, crd.Group))
			continue
		}
		c.plans[gk] = pl
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.m = newMetrics(opts.Metrics, c.plans)
	c.handler = c.endpoint(opts.Listener)
	return c, nil
}

func compile(crd *policy.CRD) (*plan, error) {
	cs := crd.Conversion
	if crd.Group == "" || crd.Kind == "" {
		return nil, errors.New("no group or kind")
	}
	pl := &plan{group: crd.Group, kind: crd.Kind, storage: cs.StorageVersion, schemas: map[string]*node{}}
	add := func(v string) {
		if v != "" && !slices.Contains(pl.versions, v) {
			pl.versions = append(pl.versions, v)
		}
	}
	for _, v := range cs.Versions {
		add(v)
	}
	if len(pl.versions) == 0 {
		for _, v := range crd.Versions {
			add(v)
		}
	}
	// The API server converts between every version the CRD serves: one
	// missing from conversion.versions goes through storage unchanged.
	if def := crd.Definition; def != nil {
		for _, v := range def.Spec.Versions {
			add(v.Name)
		}
	}
	if !slices.Contains(pl.versions, pl.storage) {
		return nil, fmt.Errorf("storage version %q is not one of the versions %s", pl.storage, strings.Join(pl.versions, ", "))
	}
	for _, v := range pl.versions {
		pl.schemas[v] = compileSchema(versionSchema(crd.Definition, v))
	}
	declared := map[[2]string]*leg{}
	for i, p := range cs.Paths {
		if !slices.Contains(pl.versions, p.From) || !slices.Contains(pl.versions, p.To) || p.From == p.To {
			return nil, fmt.Errorf("paths[%d]: %q -> %q does not join two declared versions", i, p.From, p.To)
		}
		l, err := compileLeg(p, pl.schemas[p.To])
		if err != nil {
			return nil, fmt.Errorf("paths[%d] (%s -> %s): %w", i, p.From, p.To, err)
		}
		key := [2]string{p.From, p.To}
		if _, dup := declared[key]; dup {
			return nil, fmt.Errorf("paths[%d]: %s -> %s is declared twice", i, p.From, p.To)
		}
		declared[key] = l
	}
	step := func(from, to string) *leg {
		if l, ok := declared[[2]string{from, to}]; ok {
			return l
		}
		return &leg{from: from, to: to, schema: pl.schemas[to]}
	}
	pl.routes = map[[2]string][]*leg{}
	for _, from := range pl.versions {
		for _, to := range pl.versions {
			key := [2]string{from, to}
			switch {
			case from == to:
			case declared[key] != nil, from == pl.storage, to == pl.storage:
				pl.routes[key] = []*leg{step(from, to)}
			default:
				pl.routes[key] = []*leg{step(from, pl.storage), step(pl.storage, to)}
			}
		}
	}
	pl.scopes = map[[2]string]*scope{}
	for i, a := range pl.versions {
		for _, b := range pl.versions[i+1:] {
			sc := pl.scopeOf(a, b)
			pl.scopes[[2]string{a, b}], pl.scopes[[2]string{b, a}] = sc, sc
		}
	}
	return pl, nil
}

// versionSchema is the OpenAPI schema of a version in the CRD; nil when
// unknown or when the CRD keeps unknown fields (nothing is pruned then).
func versionSchema(def *apiextv1.CustomResourceDefinition, version string) *apiextv1.JSONSchemaProps {
	if def == nil || def.Spec.PreserveUnknownFields {
		return nil
	}
	for _, v := range def.Spec.Versions {
		if v.Name == version && v.Schema != nil {
			return v.Schema.OpenAPIV3Schema
		}
	}
	return nil
}

// run converts obj along the route from -> to; obj is not modified.
func (pl *plan) run(obj map[string]any, from, to string) (map[string]any, error) {
	route := pl.routes[[2]string{from, to}]
	cur := obj
	for _, l := range route {
		next, err := l.apply(cur, pl.group+"/"+l.to)
		if err != nil {
			if len(route) > 1 {
				return nil, fmt.Errorf("%s (through the storage version %s): %w", l, pl.storage, err)
			}
			return nil, fmt.Errorf("%s: %w", l, err)
		}
		cur = next
	}
	return cur, nil
}

// outcome is what convert reports besides the object.
type outcome struct {
	dropped []fieldOp // preserved fields dropped to respect the bound
	// ignored is an annotation that was ignored as a whole (an
	// *unsealError: malformed, not authenticated for this object).
	ignored error
	refused []fieldOp // fields of an authenticated entry outside its scope
}

// convert converts obj from -> to with lossless round trips (see
// PreservedAnnotation), sealing the annotation with key. obj may be
// modified.
func (pl *plan) convert(obj map[string]any, from, to string, key []byte, maxPreserved int) (map[string]any, outcome, error) {
	var oc outcome
	for _, v := range []string{from, to} {
		if !slices.Contains(pl.versions, v) {
			return nil, oc, fmt.Errorf("version %s is not a version of %s.%s (known: %s)", v, pl.kind, pl.group, strings.Join(pl.versions, ", "))
		}
	}
	if from == to {
		return obj, oc, nil
	}
	if len(key) < MinKeyBytes {
		return nil, oc, fmt.Errorf("no key to seal the %s annotation with (%d bytes, want at least %d)", PreservedAnnotation, len(key), MinKeyBytes)
	}
	id := pl.identityOf(obj)
	stack, err := takeStack(obj, key, id)
	if err != nil {
		oc.ignored = err
	}
	out, err := pl.run(obj, from, to)
	if err != nil {
		return nil, oc, err
	}
	if n := len(stack); n > 0 && stack[n-1].From == to && stack[n-1].To == from {
		oc.refused = restore(out, stack[n-1].Fields, pl.scopes[[2]string{from, to}])
		stack = stack[:n-1]
	} else {
		back, err := pl.run(out, to, from)
		if err != nil {
			return nil, oc, fmt.Errorf("converting back from %s to %s, to keep what %s cannot hold: %w", to, from, to, err)
		}
		if ops := diff(obj, back, nil, nil); len(ops) > 0 {
			stack = append(stack, entry{From: from, To: to, Fields: ops})
		}
	}
	encoded, dropped, err := bound(stack, maxPreserved-sealOverhead)
	if err != nil {
		return nil, oc, fmt.Errorf("encoding the %s annotation: %v", PreservedAnnotation, err)
	}
	oc.dropped = dropped
	if encoded != nil {
		encoded = seal(key, id, encoded)
	}
	if err := putStack(out, encoded); err != nil {
		return nil, oc, err
	}
	return out, oc, nil
}
