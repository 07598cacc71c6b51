package registration

import (
	"context"
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// maxAttempts bounds the get-compare-write loop of one configuration when
// other replicas write it concurrently (Conflict, AlreadyExists).
const maxAttempts = 5

// Result counts what Apply did, for logs and metrics.
type Result struct {
	Created, Updated, Unchanged, Deleted int
	// Pending counts features switching engine whose new objects are not
	// known to be in force yet: both engines' objects are kept.
	Pending int
}

// Changed reports whether Apply wrote anything.
func (r Result) Changed() bool { return r.Created+r.Updated+r.Deleted > 0 }

func (r *Result) add(o Result) {
	r.Created += o.Created
	r.Updated += o.Updated
	r.Unchanged += o.Unchanged
	r.Deleted += o.Deleted
	r.Pending += o.Pending
}

// Apply makes the cluster hold exactly the desired configurations of the
// Katalog: each is created when absent and updated (guarded by the
// resourceVersion it read) only when it differs semantically from the live
// object, so re-applying unchanged configurations writes nothing; the
// Katalog's configurations of features that are no longer desired are
// deleted. Safe to run from every replica at once: a Conflict or
// AlreadyExists means another replica wrote first, and Apply re-reads and
// compares again.
//
// Comparison covers what the gateway sets: the webhooks (after applying the
// API server's defaults to both sides, see normalizeValidating) and the
// gateway's labels. Other labels and annotations are kept on update; webhook
// fields this build does not know (a newer API server's) are not compared,
// and an update rewrites the webhook list, leaving them to the server's
// defaults. A desired webhook without caBundle (external certificates) keeps
// the live caBundle.
//
// Apply works by name (see ConfigName), so the gateway needs get, create,
// update and delete on those names only, never list. It carries on after an
// error in one configuration and returns all errors joined.
func Apply(ctx context.Context, client dynamic.Interface, katalog string, validating []admissionregistrationv1.ValidatingWebhookConfiguration, mutating []admissionregistrationv1.MutatingWebhookConfiguration) (Result, error) {
	res, _, err := apply(ctx, client, katalog, validating, mutating)
	return res, err
}

// apply is Apply, also returning the caBundle every webhook of the
// configurations holds afterwards.
func apply(ctx context.Context, client dynamic.Interface, katalog string, validating []admissionregistrationv1.ValidatingWebhookConfiguration, mutating []admissionregistrationv1.MutatingWebhookConfiguration) (Result, []Bundle, error) {
	var res Result
	if err := checkArgs(client, katalog); err != nil {
		return res, nil, err
	}
	objs, err := objects(katalog, validating, mutating)
	if err != nil {
		return res, nil, err
	}
	var errs []error
	var bundles []Bundle
	wanted := map[webhook.Feature]bool{}
	for _, o := range objs {
		wanted[o.feature] = true
		r, held, err := ensure(ctx, client, o)
		res.add(r)
		bundles = append(bundles, held...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.kind, o.name, err))
		}
	}
	var stale []webhook.Feature
	for _, f := range webhook.Features {
		if !wanted[f] {
			stale = append(stale, f)
		}
	}
	n, err := remove(ctx, client, katalog, stale)
	res.Deleted += n
	if err != nil {
		errs = append(errs, err)
	}
	return res, bundles, errors.Join(errs...)
}

// Remove deletes every configuration and native policy of the Katalog
// (uninstall, shutdown of the last replica). Only objects labelled as
// managed by the gateway for this Katalog are deleted; absent ones are fine.
func Remove(ctx context.Context, client dynamic.Interface, katalog string) error {
	return RemoveFeatures(ctx, client, katalog, webhook.Features)
}

// RemoveFeatures deletes the Katalog's configurations and native policies
// of the given features only (e.g. CleanupFeatures at shutdown); an empty
// list deletes nothing.
func RemoveFeatures(ctx context.Context, client dynamic.Interface, katalog string, features []webhook.Feature) error {
	if err := checkArgs(client, katalog); err != nil {
		return err
	}
	var errs []error
	for _, f := range features {
		stale, err := liveStale(ctx, client, katalog, f, nil)
		if err != nil {
			errs = append(errs, err)
		}
		if _, err := deleteStale(ctx, client, stale); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkArgs(client dynamic.Interface, katalog string) error {
	if client == nil {
		return errors.New("registration: no API client")
	}
	if msgs := validation.IsDNS1123Label(katalog); len(msgs) > 0 {
		return fmt.Errorf("katalog name %q: %s", katalog, strings.Join(msgs, "; "))
	}
	return nil
}

func remove(ctx context.Context, client dynamic.Interface, katalog string, features []webhook.Feature) (int, error) {
	var errs []error
	n := 0
	for _, f := range features {
		name := ConfigName(katalog, f)
		ri := client.Resource(gvrOf(f))
		live, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", kindOf(f), name, err))
			continue
		}
		if !owned(live.GetLabels(), katalog) {
			// Same name but not ours (labels removed or someone else's):
			// never delete what the gateway cannot prove it created.
			continue
		}
		uid := live.GetUID()
		err = ri.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case err == nil:
			n++
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Deleted by another replica, or replaced by a new object since
			// we read it (UID precondition): not ours to delete any more.
		default:
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", kindOf(f), name, err))
		}
	}
	return n, errors.Join(errs...)
}

func kindOf(f webhook.Feature) string {
	if f.Mutating() {
		return "MutatingWebhookConfiguration"
	}
	return "ValidatingWebhookConfiguration"
}

// object is one desired configuration (or native policy or binding),
// reduced to what Apply needs.
type object struct {
	feature webhook.Feature
	gvr     schema.GroupVersionResource
	kind    string
	name    string
	labels  map[string]string
	// annotations are set on the live object; unset names one annotation
	// removed from it (cert-manager's CA injection, when the gateway writes
	// the caBundles itself and the injector would fight it).
	annotations map[string]string
	unset       string
	want        *unstructured.Unstructured
	// field is the top-level field the gateway owns: "webhooks" of a
	// configuration, "spec" of a policy or binding.
	field string
	// sync compares the live object with the desired one and returns the
	// field's value to write (in unstructured form) when they differ, and
	// the caBundles the object holds once it is written (or, the same, as
	// it is; none for a policy).
	sync func(live *unstructured.Unstructured) (value any, same bool, held []Bundle, err error)
	// bundles are the caBundles of the desired object, once created.
	bundles []Bundle
}

// objects checks the desired configurations (one per feature, named and
// labelled for this Katalog, so that Apply can later find and delete them)
// and converts them.
func objects(katalog string, validating []admissionregistrationv1.ValidatingWebhookConfiguration, mutating []admissionregistrationv1.MutatingWebhookConfiguration) ([]object, error) {
	byName := map[string]webhook.Feature{}
	for _, f := range webhook.Features {
		byName[ConfigName(katalog, f)] = f
	}
	seen := map[webhook.Feature]bool{}
	check := func(kind string, meta metav1.ObjectMeta, mutatingKind bool) (webhook.Feature, error) {
		f, ok := byName[meta.Name]
		switch {
		case !ok:
			return "", fmt.Errorf("%s %q: not a configuration name of Katalog %q (want orkestra-gateway-%s-<feature>)", kind, meta.Name, katalog, katalog)
		case f.Mutating() != mutatingKind:
			return "", fmt.Errorf("%s %q: the %s feature registers a %s", kind, meta.Name, f, kindOf(f))
		case seen[f]:
			return "", fmt.Errorf("%s %q: desired twice", kind, meta.Name)
		}
		for k, v := range labels(katalog, f) {
			if meta.Labels[k] != v {
				return "", fmt.Errorf("%s %q: label %s=%q is missing", kind, meta.Name, k, v)
			}
		}
		seen[f] = true
		return f, nil
	}
	var objs []object
	for i := range validating {
		c := validating[i].DeepCopy()
		f, err := check("ValidatingWebhookConfiguration", c.ObjectMeta, false)
		if err != nil {
			return nil, err
		}
		o, err := validatingObject(f, c)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	for i := range mutating {
		c := mutating[i].DeepCopy()
		f, err := check("MutatingWebhookConfiguration", c.ObjectMeta, true)
		if err != nil {
			return nil, err
		}
		o, err := mutatingObject(f, c)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

func validatingObject(f webhook.Feature, c *admissionregistrationv1.ValidatingWebhookConfiguration) (object, error) {
	return configObject(f, c, hookAccess[admissionregistrationv1.ValidatingWebhookConfiguration, admissionregistrationv1.ValidatingWebhook]{
		kind: "ValidatingWebhookConfiguration",
		hooks: func(c *admissionregistrationv1.ValidatingWebhookConfiguration) []admissionregistrationv1.ValidatingWebhook {
			return c.Webhooks
		},
		name: func(h *admissionregistrationv1.ValidatingWebhook) string { return h.Name },
		client: func(h *admissionregistrationv1.ValidatingWebhook) *admissionregistrationv1.WebhookClientConfig {
			return &h.ClientConfig
		},
		normalize: func(hs []admissionregistrationv1.ValidatingWebhook) any { return normalizeValidating(hs) },
	})
}

func mutatingObject(f webhook.Feature, c *admissionregistrationv1.MutatingWebhookConfiguration) (object, error) {
	return configObject(f, c, hookAccess[admissionregistrationv1.MutatingWebhookConfiguration, admissionregistrationv1.MutatingWebhook]{
		kind: "MutatingWebhookConfiguration",
		hooks: func(c *admissionregistrationv1.MutatingWebhookConfiguration) []admissionregistrationv1.MutatingWebhook {
			return c.Webhooks
		},
		name: func(h *admissionregistrationv1.MutatingWebhook) string { return h.Name },
		client: func(h *admissionregistrationv1.MutatingWebhook) *admissionregistrationv1.WebhookClientConfig {
			return &h.ClientConfig
		},
		normalize: func(hs []admissionregistrationv1.MutatingWebhook) any { return normalizeMutating(hs) },
	})
}

// hookAccess reads a webhook configuration kind C and its webhooks W: the
// two kinds have the same shape but no common Go type.
type hookAccess[C, W any] struct {
	kind      string
	hooks     func(*C) []W
	name      func(*W) string
	client    func(*W) *admissionregistrationv1.WebhookClientConfig
	normalize func([]W) any // with the API server's defaults filled in
}

// configObject is the object to apply for configuration c: equal to the
// live one when the webhooks are, the live caBundles kept where c has none.
func configObject[C, W any, P interface {
	*C
	metav1.Object
	runtime.Object
	DeepCopy() *C
}](f webhook.Feature, c P, a hookAccess[C, W]) (object, error) {
	hasCA := false
	hooks := a.hooks(c)
	for i := range hooks {
		hasCA = hasCA || len(a.client(&hooks[i]).CABundle) > 0
	}
	c.GetObjectKind().SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind(a.kind))
	c.SetResourceVersion("")
	c.SetUID("")
	want, err := toUnstructured(c)
	if err != nil {
		return object{}, err
	}
	held := func(hs []W) []Bundle {
		out := make([]Bundle, len(hs))
		for i := range hs {
			out[i] = Bundle{Source: a.kind + " " + c.GetName() + ", webhook " + a.name(&hs[i]), PEM: a.client(&hs[i]).CABundle}
		}
		return out
	}
	return object{
		feature: f, gvr: gvrOf(f), kind: a.kind, name: c.GetName(), labels: c.GetLabels(), annotations: c.GetAnnotations(), unset: unsetInjection(c.GetAnnotations(), hasCA),
		want: want, field: "webhooks", bundles: held(hooks),
		sync: func(live *unstructured.Unstructured) (any, bool, []Bundle, error) {
			var l C
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &l); err != nil {
				return nil, false, nil, fmt.Errorf("decoding the live object: %w", err)
			}
			w := c.DeepCopy()
			liveHooks, wantHooks := a.hooks(&l), a.hooks(w)
			liveCA := map[string][]byte{}
			for i := range liveHooks {
				liveCA[a.name(&liveHooks[i])] = a.client(&liveHooks[i]).CABundle
			}
			for i := range wantHooks {
				if cc := a.client(&wantHooks[i]); len(cc.CABundle) == 0 {
					cc.CABundle = liveCA[a.name(&wantHooks[i])]
				}
			}
			same := equality.Semantic.DeepEqual(a.normalize(wantHooks), a.normalize(liveHooks))
			webhooks, err := webhooksOf(P(w))
			if same {
				return webhooks, same, held(liveHooks), err
			}
			return webhooks, same, held(wantHooks), err
		},
	}, nil
}

// unsetInjection is the annotation to remove from a live configuration:
// cert-manager's CA injection when the gateway writes the caBundle itself
// and does not ask for injection. With external certificates (no caBundle)
// a user's annotation is theirs to keep.
func unsetInjection(annotations map[string]string, hasCA bool) string {
	if _, asked := annotations[policy.CAInjectionAnnotation]; hasCA && !asked {
		return policy.CAInjectionAnnotation
	}
	return ""
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

func webhooksOf(obj runtime.Object) ([]any, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return nil, err
	}
	hooks, _, err := unstructured.NestedSlice(u.Object, "webhooks")
	return hooks, err
}

// ensure makes one configuration match: create if absent, update if
// different, nothing if equal. It returns the caBundles the object holds
// afterwards.
func ensure(ctx context.Context, client dynamic.Interface, o object) (Result, []Bundle, error) {
	ri := client.Resource(o.gvr)
	var lastErr error
	for range maxAttempts {
		live, err := ri.Get(ctx, o.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = ri.Create(ctx, o.want, metav1.CreateOptions{FieldManager: policy.ManagedByValue})
			switch {
			case err == nil:
				return Result{Created: 1}, o.bundles, nil
			case apierrors.IsAlreadyExists(err):
				lastErr = err // another replica won: compare with theirs
				continue
			default:
				return Result{}, nil, fmt.Errorf("creating: %w", err)
			}
		}
		if err != nil {
			return Result{}, nil, fmt.Errorf("reading: %w", err)
		}
		value, same, held, err := o.sync(live)
		if err != nil {
			return Result{}, nil, err
		}
		_, injected := live.GetAnnotations()[o.unset]
		injected = injected && o.unset != ""
		if same && hasLabels(live.GetLabels(), o.labels) && hasLabels(live.GetAnnotations(), o.annotations) && !injected {
			return Result{Unchanged: 1}, held, nil
		}
		upd := live.DeepCopy()
		if err := unstructured.SetNestedField(upd.Object, value, o.field); err != nil {
			return Result{}, nil, err
		}
		l := upd.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range o.labels {
			l[k] = v
		}
		upd.SetLabels(l)
		if len(o.annotations) > 0 || injected {
			a := upd.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			for k, v := range o.annotations {
				a[k] = v
			}
			delete(a, o.unset)
			upd.SetAnnotations(a)
		}
		// upd carries the resourceVersion we read: a concurrent write is a Conflict.
		_, err = ri.Update(ctx, upd, metav1.UpdateOptions{FieldManager: policy.ManagedByValue})
		switch {
		case err == nil:
			return Result{Updated: 1}, held, nil
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			lastErr = err // changed or deleted since we read it: start over
			continue
		default:
			return Result{}, nil, fmt.Errorf("updating: %w", err)
		}
	}
	return Result{}, nil, fmt.Errorf("gave up after %d attempts against concurrent writers: %w", maxAttempts, lastErr)
}

func hasLabels(live, want map[string]string) bool {
	for k, v := range want {
		if lv, ok := live[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// The API server defaults these fields of admissionregistration/v1 webhooks
// (k8s.io/kubernetes/pkg/apis/admissionregistration/v1/defaults.go). Both
// sides of a comparison get them, so a field the gateway leaves unset equals
// the value the server filled in; equality.Semantic also treats nil and empty
// slices and maps alike.

func normalizeValidating(in []admissionregistrationv1.ValidatingWebhook) []admissionregistrationv1.ValidatingWebhook {
	out := make([]admissionregistrationv1.ValidatingWebhook, len(in))
	for i := range in {
		w := in[i].DeepCopy()
		w.FailurePolicy = orDefault(w.FailurePolicy, admissionregistrationv1.Fail)
		w.MatchPolicy = orDefault(w.MatchPolicy, admissionregistrationv1.Equivalent)
		w.NamespaceSelector = orDefault(w.NamespaceSelector, metav1.LabelSelector{})
		w.ObjectSelector = orDefault(w.ObjectSelector, metav1.LabelSelector{})
		w.TimeoutSeconds = orDefault(w.TimeoutSeconds, 10)
		normalizeClientConfig(&w.ClientConfig)
		normalizeRules(w.Rules)
		out[i] = *w
	}
	return out
}

func normalizeMutating(in []admissionregistrationv1.MutatingWebhook) []admissionregistrationv1.MutatingWebhook {
	out := make([]admissionregistrationv1.MutatingWebhook, len(in))
	for i := range in {
		w := in[i].DeepCopy()
		w.FailurePolicy = orDefault(w.FailurePolicy, admissionregistrationv1.Fail)
		w.MatchPolicy = orDefault(w.MatchPolicy, admissionregistrationv1.Equivalent)
		w.NamespaceSelector = orDefault(w.NamespaceSelector, metav1.LabelSelector{})
		w.ObjectSelector = orDefault(w.ObjectSelector, metav1.LabelSelector{})
		w.TimeoutSeconds = orDefault(w.TimeoutSeconds, 10)
		w.ReinvocationPolicy = orDefault(w.ReinvocationPolicy, admissionregistrationv1.NeverReinvocationPolicy)
		normalizeClientConfig(&w.ClientConfig)
		normalizeRules(w.Rules)
		out[i] = *w
	}
	return out
}

func normalizeClientConfig(c *admissionregistrationv1.WebhookClientConfig) {
	if c.Service != nil {
		c.Service.Port = orDefault(c.Service.Port, 443)
	}
}

func normalizeRules(rs []admissionregistrationv1.RuleWithOperations) {
	for i := range rs {
		rs[i].Scope = orDefault(rs[i].Scope, admissionregistrationv1.AllScopes)
	}
}

func orDefault[T any](p *T, def T) *T {
	if p == nil {
		return &def
	}
	return p
}
