package registration

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Bundle is the caBundle one webhook, or one CRD's conversion webhook,
// holds: what the API server verifies the gateway with when it calls
// through that object.
type Bundle struct {
	// Source names the object, for messages: "ValidatingWebhookConfiguration
	// <name>, webhook <name>", "CustomResourceDefinition <name> (conversion)".
	Source string
	// PEM is the caBundle; empty means the API server's system roots.
	PEM []byte
}

// Synced is what Sync did, and what it left on the API server.
type Synced struct {
	// Result counts the writes of webhook configurations and native
	// policies, and the engine switches still pending.
	Result
	// Engines is the engine that enforces each feature (NewPlan).
	Engines map[webhook.Feature]policy.Engine
	// CRDs are the CRDs whose spec.conversion Sync wrote.
	CRDs []string
	// Bundles is the caBundle of every webhook and conversion CRD the
	// gateway manages, as Sync read or wrote it: with the gateway's own
	// certificates the caBundle it was given, with external ones the
	// user's. Readiness is computed from them.
	Bundles []Bundle
}

// Changed reports whether Sync wrote anything.
func (s Synced) Changed() bool { return s.Result.Changed() || len(s.CRDs) > 0 }

// Sync makes the API server hold everything the gateway needs for p, with
// caBundle (empty: external certificates, whose caBundles are the user's
// and are kept): the webhook configurations and native policies of the plan
// (NewPlan with what the API server supports; Plan.Apply, which switches
// engines through prober without a gap) and, once they are in place, the
// spec.conversion of every ConversionCRDs entry (EnsureCRD). It is the
// registration step of the maintenance tick, run by every replica: nothing
// is written when the cluster already matches.
//
// The error says which step failed; Synced holds what was done before.
func Sync(ctx context.Context, client dynamic.Interface, p *policy.Policy, ep Endpoint, caBundle []byte, support Support, prober Prober) (Synced, error) {
	var s Synced
	if p == nil {
		return s, errors.New("registration: no policy")
	}
	plan, err := NewPlan(p, ep, caBundle, support)
	if err != nil {
		return s, fmt.Errorf("admission policies: %w", err)
	}
	s.Engines = plan.Engines
	res, bundles, err := plan.Apply(ctx, client, prober, p.Name)
	s.Result, s.Bundles = res, bundles
	if err != nil {
		return s, fmt.Errorf("admission registrations: %w", err)
	}
	var errs []error
	for _, c := range ConversionCRDs(p) {
		changed, held, err := EnsureCRD(ctx, client, c, ep, caBundle)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			s.CRDs = append(s.CRDs, c.CRDName())
		}
		s.Bundles = append(s.Bundles, Bundle{Source: "CustomResourceDefinition " + c.CRDName() + " (conversion)", PEM: held})
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("conversion settings: %w", errors.Join(errs...))
	}
	return s, nil
}
