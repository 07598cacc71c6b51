package registration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Support says which native admission kinds the API server serves.
type Support struct {
	// Validating: validatingadmissionpolicies and their bindings (v1).
	Validating bool
	// Mutating: mutatingadmissionpolicies and their bindings (v1).
	Mutating bool
}

// Discover reads the API server's discovery document of
// admissionregistration.k8s.io/v1 (a GET every authenticated user may
// make) and says which policy kinds it serves.
func Discover(ctx context.Context, client rest.Interface) (Support, error) {
	raw, err := client.Get().AbsPath("/apis/admissionregistration.k8s.io/v1").DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return Support{}, nil
	}
	if err != nil {
		return Support{}, fmt.Errorf("discovery of admissionregistration.k8s.io/v1: %w", err)
	}
	return decodeSupport(raw)
}

// decodeSupport reads a discovery document (an APIResourceList).
func decodeSupport(raw []byte) (Support, error) {
	var list metav1.APIResourceList
	if err := json.Unmarshal(raw, &list); err != nil {
		return Support{}, fmt.Errorf("discovery of admissionregistration.k8s.io/v1: %w", err)
	}
	if list.GroupVersion != "admissionregistration.k8s.io/v1" {
		return Support{}, fmt.Errorf("discovery of admissionregistration.k8s.io/v1 answered for %q", list.GroupVersion)
	}
	has := map[string]bool{}
	for _, r := range list.APIResources {
		has[r.Name] = true
	}
	return Support{
		Validating: has[ValidatingPolicies] && has[ValidatingBindings],
		Mutating:   has[MutatingPolicies] && has[MutatingBindings],
	}, nil
}

// Engines decides which engine enforces each feature: the Katalog's
// engine, except for auto, which takes native for a feature whose kinds
// the API server serves (support) and whose rules compile to CEL, and the
// webhook for the rest.
func Engines(p *policy.Policy, support Support) map[webhook.Feature]policy.Engine {
	out := map[webhook.Feature]policy.Engine{}
	var problems map[webhook.Feature]error
	for _, f := range webhook.Features {
		switch p.Admission.Engine {
		case policy.EngineNative:
			out[f] = policy.EngineNative
		case policy.EngineAuto:
			if problems == nil {
				problems = NativeProblems(p)
			}
			served := support.Validating
			if f.Mutating() {
				served = support.Mutating
			}
			out[f] = policy.EngineWebhook
			if served && problems[f] == nil {
				out[f] = policy.EngineNative
			}
		default:
			out[f] = policy.EngineWebhook
		}
	}
	return out
}

// UnenforcedCEL counts the CEL rules (expression:) nothing enforces under
// engines: those of entries whose validation is on the webhook engine,
// which never evaluates CEL (engine auto on a cluster that serves no
// ValidatingAdmissionPolicy; the check pass refuses every other way to get
// there). entries names their entries.
func UnenforcedCEL(p *policy.Policy, engines map[webhook.Feature]policy.Engine) (n int, entries []string) {
	if p == nil || !p.Admission.Enabled || engines[webhook.Validate] == policy.EngineNative {
		return 0, nil
	}
	for _, c := range p.CRDs {
		if c == nil || !c.Validate {
			continue
		}
		if k := len(c.Validation.Expressions()); k > 0 {
			n += k
			entries = append(entries, c.Name)
		}
	}
	return n, entries
}

// Plan is everything a Katalog registers, for both engines.
type Plan struct {
	// Engines is the engine of every feature.
	Engines map[webhook.Feature]policy.Engine
	// Validating and Mutating are the webhook configurations of the
	// features on the webhook engine.
	Validating []admissionregistrationv1.ValidatingWebhookConfiguration
	Mutating   []admissionregistrationv1.MutatingWebhookConfiguration
	// Native are the policies of the features on the native engine.
	Native []NativePolicy
}

// NewPlan computes the Plan of a Katalog (see Desired, DesiredNative and
// Engines). It is pure.
func NewPlan(p *policy.Policy, ep Endpoint, caBundle []byte, support Support) (Plan, error) {
	pl := Plan{Engines: Engines(p, support)}
	v, m := Desired(p, ep, caBundle)
	for _, c := range v {
		if pl.Engines[webhook.Feature(c.Labels[FeatureLabel])] == policy.EngineWebhook {
			pl.Validating = append(pl.Validating, c)
		}
	}
	for _, c := range m {
		if pl.Engines[webhook.Feature(c.Labels[FeatureLabel])] == policy.EngineWebhook {
			pl.Mutating = append(pl.Mutating, c)
		}
	}
	var err error
	pl.Native, err = DesiredNative(p, ep, pl.Engines)
	return pl, err
}

// Apply makes the cluster hold exactly the plan's objects, as Apply does
// for webhook configurations: create when absent, update when different,
// nothing when equal, and delete the Katalog's objects that are not in the
// plan. Safe from every replica at once. It returns the caBundle every
// webhook of the configurations holds afterwards.
//
// Switching a feature from one engine to the other never leaves it
// unenforced: the new engine's objects are applied first, and the old
// engine's are deleted only once the new ones are in force. The prober
// tells (see Prober); without one (no TLS Secret to probe with), the new
// objects must have been in place, unchanged, since an earlier Apply. Until
// then both engines enforce, Result.Pending counts the feature, and the
// next Apply tries again. A feature that is turned off has its objects of
// both engines deleted at once.
func (pl Plan) Apply(ctx context.Context, client dynamic.Interface, prober Prober, katalog string) (Result, []Bundle, error) {
	var res Result
	if err := checkArgs(client, katalog); err != nil {
		return res, nil, err
	}
	webhooks, err := objects(katalog, pl.Validating, pl.Mutating)
	if err != nil {
		return res, nil, err
	}
	natives, err := nativeObjects(katalog, pl.Native)
	if err != nil {
		return res, nil, err
	}
	var errs []error
	var bundles []Bundle
	keep := map[schema.GroupVersionResource]map[string]bool{}
	changed := map[webhook.Feature]bool{} // a desired object was written this time
	has := map[webhook.Feature]bool{}     // the feature has desired objects
	for _, o := range append(webhooks, natives...) {
		if keep[o.gvr] == nil {
			keep[o.gvr] = map[string]bool{}
		}
		keep[o.gvr][o.name] = true
		has[o.feature] = true
		r, held, err := ensure(ctx, client, o)
		res.add(r)
		bundles = append(bundles, held...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.kind, o.name, err))
		}
		if r.Created+r.Updated > 0 || err != nil {
			changed[o.feature] = true
		}
	}
	for _, f := range webhook.Features {
		stale, err := liveStale(ctx, client, katalog, f, keep)
		if err != nil {
			errs = append(errs, err)
		}
		if len(stale) == 0 {
			continue
		}
		// Stale objects of the other engine are deleted only once the
		// feature's own objects enforce; the rest (a feature turned off, a
		// policy no longer needed) at once.
		var now, switching []staleRef
		for _, s := range stale {
			if has[f] && engineOf(s.gvr) != pl.Engines[f] {
				switching = append(switching, s)
			} else {
				now = append(now, s)
			}
		}
		if len(switching) > 0 {
			if pl.inForce(ctx, prober, katalog, f, changed[f]) {
				now = append(now, switching...)
			} else {
				res.Pending++
			}
		}
		n, err := deleteStale(ctx, client, now)
		res.Deleted += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, bundles, errors.Join(errs...)
}

func engineOf(gvr schema.GroupVersionResource) policy.Engine {
	if gvr == validatingGVR || gvr == mutatingGVR {
		return policy.EngineWebhook
	}
	return policy.EngineNative
}

// Probes returns what proves each object of feature f in force.
func (pl Plan) Probes(katalog string, f webhook.Feature) []Probe {
	var out []Probe
	if pl.Engines[f] == policy.EngineNative {
		for _, np := range pl.Native {
			if np.Part.Feature != f || np.Part.Audit {
				continue // an audit policy answers nothing a client sees
			}
			target := ProbeTarget(policy.EngineNative, np.Name())
			pr := Probe{Target: target, Answer: ProbeDeny}
			switch {
			case np.Part.Mutating:
				pr.Answer = ProbeMutate
			case np.Part.Warn:
				pr.Answer = ProbeWarn
			}
			out = append(out, pr)
		}
		return out
	}
	name := ConfigName(katalog, f)
	for _, c := range pl.Validating {
		if c.Name == name {
			out = append(out, Probe{Target: ProbeTarget(policy.EngineWebhook, name), Answer: ProbeDeny, Webhook: probeHookName(katalog, f)})
		}
	}
	for _, c := range pl.Mutating {
		if c.Name == name {
			out = append(out, Probe{Target: ProbeTarget(policy.EngineWebhook, name), Answer: ProbeDeny, Webhook: probeHookName(katalog, f)})
		}
	}
	return out
}

func probeHookName(katalog string, f webhook.Feature) string {
	return builder{p: &policy.Policy{Name: katalog}}.hookName("probe", string(f))
}

// probeWait bounds how long one Apply waits for new objects to be in force.
const probeWait = 10 * time.Second

// inForce reports whether every object of feature f in the plan enforces.
func (pl Plan) inForce(ctx context.Context, prober Prober, katalog string, f webhook.Feature, changed bool) bool {
	probes := pl.Probes(katalog, f)
	if prober == nil || len(probes) == 0 {
		// Nothing to probe with (external certificates), or nothing that
		// answers a probe (a feature whose only policy audits): objects
		// unchanged since an earlier Apply (a maintenance interval ago)
		// are taken to be loaded.
		return !changed
	}
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	for _, pr := range probes {
		if !prober.Wait(ctx, pr) {
			return false
		}
	}
	return true
}
