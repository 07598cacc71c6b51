package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// bundleImage is never pulled: no kubelet runs here.
const bundleImage = "ghcr.io/orkspace/orkestra-gateway:e2e"

// bundleResources maps the kinds of a bundle to their resources.
var bundleResources = map[string]schema.GroupVersionResource{
	"Namespace":           {Version: "v1", Resource: "namespaces"},
	"ServiceAccount":      {Version: "v1", Resource: "serviceaccounts"},
	"ClusterRole":         {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"Role":                {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"ClusterRoleBinding":  {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"RoleBinding":         {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	"ConfigMap":           {Version: "v1", Resource: "configmaps"},
	"Deployment":          {Group: "apps", Version: "v1", Resource: "deployments"},
	"Service":             {Version: "v1", Resource: "services"},
	"PodDisruptionBudget": {Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
	"NetworkPolicy":       {Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
}

// bundleCase is one installation from a generated bundle.
type bundleCase struct {
	name      string // Katalog name
	namespace string
	url       bool // register by URL (the sandbox has no Service routing to it)
	ports     *gateway
	src       *bundle.Source
	b         *bundle.Bundle
}

// newBundleCase generates the bundle of testdata/bundle-katalog.yaml for a
// Katalog name and namespace, as `ork generate bundle -n NS` does, and
// removes everything cluster-wide it installs when the test ends.
func newBundleCase(t *testing.T, name, namespace string, url bool) *bundleCase {
	t.Helper()
	return newBundleCaseOf(t, name, namespace, url, readTestdata(t, "bundle-katalog.yaml"))
}

// newEngineBundleCase is newBundleCase with the Katalog's admission engine set.
func newEngineBundleCase(t *testing.T, name, namespace string, url bool, engine policy.Engine) *bundleCase {
	text := readTestdata(t, "bundle-katalog.yaml")
	if engine != policy.EngineWebhook {
		text = withEngine(text, engine)
	}
	return newBundleCaseOf(t, name, namespace, url, text)
}

// newBundleCaseOf is newBundleCase for another Katalog text (with the same
// placeholders and CRD files).
func newBundleCaseOf(t *testing.T, name, namespace string, url bool, katalogText string) *bundleCase {
	t.Helper()
	c := &bundleCase{name: name, namespace: namespace, url: url}
	c.ports = &gateway{webhookPort: freePort(t), probePort: freePort(t), notifyPort: freePort(t)}
	u := ""
	if url {
		u = fmt.Sprintf("https://127.0.0.1:%d", c.ports.webhookPort)
	}
	text := strings.NewReplacer("{{NAME}}", name, "{{URL}}", u).Replace(katalogText)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "crds", "widget.yaml"), readTestdata(t, "widget-crd.yaml"))
	writeFile(t, filepath.Join(dir, "crds", "sprocket.yaml"), readTestdata(t, "bundle-crd.yaml"))
	writeFile(t, filepath.Join(dir, "katalog.yaml"), text)
	src, res, err := bundle.Load(filepath.Join(dir, "katalog.yaml"))
	if err != nil || src == nil {
		t.Fatalf("bundle.Load: %v %+v", err, res)
	}
	c.src = src
	engine := src.Policy.Admission.Engine
	if c.b, err = bundle.Generate(src, bundle.Options{Namespace: namespace, Image: bundleImage}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if engine == policy.EngineWebhook {
			if err := registration.Remove(ctx, env.Dynamic, name); err != nil {
				t.Errorf("removing the registrations of %s: %v", name, err)
			}
		} else if _, err := env.Clientset.CoreV1().Secrets(namespace).Get(ctx, secretName, metav1.GetOptions{}); err == nil {
			removeAndWait(t, name, namespace)
		} else if err := registration.Remove(ctx, env.Dynamic, name); err != nil {
			t.Errorf("removing the registrations of %s: %v", name, err)
		}
		for _, o := range c.b.Objects {
			if o.Namespace == "" && o.Kind != "Namespace" {
				err := env.Dynamic.Resource(bundleResources[o.Kind]).Delete(ctx, o.Name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("deleting %s %s: %v", o.Kind, o.Name, err)
				}
			}
		}
	})
	return c
}

func (c *bundleCase) object(t *testing.T, kind string) bundle.Object {
	t.Helper()
	for _, o := range c.b.Objects {
		if o.Kind == kind {
			return o
		}
	}
	t.Fatalf("the bundle has no %s", kind)
	return bundle.Object{}
}

// apply server-side applies one document, as kubectl apply --server-side does.
func apply(ctx context.Context, dyn dynamic.Interface, o bundle.Object, doc []byte, dryRun bool) error {
	gvr, ok := bundleResources[o.Kind]
	if !ok {
		return fmt.Errorf("unknown kind %s", o.Kind)
	}
	opts := metav1.PatchOptions{FieldManager: "ork-e2e"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = dyn.Resource(gvr)
	if o.Namespace != "" {
		ri = dyn.Resource(gvr).Namespace(o.Namespace)
	}
	_, err := ri.Patch(ctx, o.Name, types.ApplyPatchType, doc, opts)
	if err != nil {
		return fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	return nil
}

// install applies the bundle with the admin's credentials, optionally with
// one RBAC rule removed (kind ClusterRole or Role, drop an index into its
// rules; -1 removes nothing).
func (c *bundleCase) install(t *testing.T, dropKind string, drop int) {
	t.Helper()
	ctx := context.Background()
	for _, o := range c.b.Objects {
		doc := o.YAML
		if o.Kind == dropKind && drop >= 0 {
			doc = withoutRule(t, doc, drop)
		}
		if err := apply(ctx, env.Dynamic, o, doc, false); err != nil {
			t.Fatal(err)
		}
	}
}

func withoutRule(t *testing.T, doc []byte, i int) []byte {
	t.Helper()
	var r rbacv1.ClusterRole // a Role has the same fields
	if err := yaml.UnmarshalStrict(doc, &r); err != nil {
		t.Fatal(err)
	}
	r.Rules = slices.Delete(r.Rules, i, i+1)
	out, err := yaml.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *bundleCase) rules(t *testing.T, kind string) []rbacv1.PolicyRule {
	t.Helper()
	var r rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(c.object(t, kind).YAML, &r); err != nil {
		t.Fatal(err)
	}
	return r.Rules
}

// access asks the API server whether the bundle's ServiceAccount may do
// what one rule grants, for every verb and name of the rule.
func (c *bundleCase) access(t *testing.T, namespace string, r rbacv1.PolicyRule) (allowed bool, denied string) {
	t.Helper()
	names := r.ResourceNames
	if len(names) == 0 {
		names = []string{""}
	}
	sa := c.object(t, "ServiceAccount").Name
	allowed = true
	for _, verb := range r.Verbs {
		for _, name := range names {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   "system:serviceaccount:" + c.namespace + ":" + sa,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + c.namespace, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: namespace, Verb: verb, Group: r.APIGroups[0], Resource: r.Resources[0], Name: name,
				},
			}}
			res, err := env.Clientset.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Status.Allowed {
				allowed, denied = false, verb+" "+r.Resources[0]+" "+name
			}
		}
	}
	return allowed, denied
}

// waitRBAC waits until the authorizer (fed by an informer) grants every
// rule of the bundle except the one dropped.
func (c *bundleCase) waitRBAC(t *testing.T, dropKind string, drop int) {
	t.Helper()
	for _, kind := range []string{"ClusterRole", "Role"} {
		ns := ""
		if kind == "Role" {
			ns = c.namespace
		}
		for i, r := range c.rules(t, kind) {
			if kind == dropKind && i == drop {
				if ok, _ := c.access(t, ns, r); ok {
					t.Fatalf("%s rule %d (%v %v) was removed but is still granted: the test would prove nothing", kind, i, r.Verbs, r.Resources)
				}
				continue
			}
			eventually(t, 20*time.Second, "RBAC of "+kind+" applied", func() error {
				if ok, denied := c.access(t, ns, r); !ok {
					return errorf("%s not granted yet", denied)
				}
				return nil
			})
		}
	}
}

// start runs the gateway binary as the bundle's ServiceAccount, with only
// the bundle's RBAC, reading the Katalog and CRD file exactly as the
// Deployment mounts them from the stored ConfigMap.
func (c *bundleCase) start(t *testing.T, wait bool, args ...string) *gateway {
	t.Helper()
	return c.startReplica(t, c.ports, wait, args...)
}

// startReplica is start on other ports: another replica of the same
// Deployment.
func (c *bundleCase) startReplica(t *testing.T, ports *gateway, wait bool, args ...string) *gateway {
	t.Helper()
	ctx := context.Background()
	pod := c.deployment(t).Spec.Template.Spec
	ctr := pod.Containers[0]
	mount := ctr.VolumeMounts[0]
	podFiles := c.secretFiles(t, pod)
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == mount.Name {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.ConfigMap == nil {
		t.Fatalf("the Deployment mounts %s from no ConfigMap", mount.MountPath)
	}
	cm, err := env.Clientset.CoreV1().ConfigMaps(c.namespace).Get(ctx, vol.ConfigMap.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, it := range vol.ConfigMap.Items {
		data, ok := cm.Data[it.Key]
		if !ok {
			t.Fatalf("the ConfigMap has no key %s", it.Key)
		}
		writeFile(t, filepath.Join(dir, filepath.FromSlash(it.Path)), data)
	}
	// -f names the file in the mount; read it from the copy.
	i := slices.Index(ctr.Args, "-f")
	if i < 0 || i+1 >= len(ctr.Args) || !strings.HasPrefix(ctr.Args[i+1], mount.MountPath+"/") {
		t.Fatalf("container args %v do not read the Katalog from %s", ctr.Args, mount.MountPath)
	}
	g := *ports
	g.katalog = filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(ctr.Args[i+1], mount.MountPath+"/")))
	return startGateway(t, gatewayOptions{
		Restart:        &g,
		Namespace:      c.namespace,
		ServiceAccount: pod.ServiceAccountName,
		NoClusterAdmin: true,
		NoWait:         !wait,
		Args:           args,
		Env:            secretEnv(t, c.namespace, ctr.Env),
		PodFiles:       podFiles,
	})
}

// secretFiles are the files of the Secret volumes the container mounts, as
// the kubelet writes them (the listed items, or every key), read from the
// stored Secrets: the pod sandbox holds them at the same paths.
func (c *bundleCase) secretFiles(t *testing.T, pod corev1.PodSpec) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, m := range pod.Containers[0].VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			s, err := env.Clientset.CoreV1().Secrets(c.namespace).Get(context.Background(), v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("the Secret the Deployment mounts at %s: %v", m.MountPath, err)
			}
			items := v.Secret.Items
			if len(items) == 0 {
				for k := range s.Data {
					items = append(items, corev1.KeyToPath{Key: k, Path: k})
				}
			}
			for _, it := range items {
				data, ok := s.Data[it.Key]
				if !ok {
					t.Fatalf("Secret %s has no key %s", s.Name, it.Key)
				}
				files[m.MountPath+"/"+it.Path] = data
			}
		}
	}
	return files
}

// secretEnv resolves the container's variables with a value (GOMEMLIMIT)
// or from Secret keys, as the kubelet does: an optional Secret or key that
// is absent sets nothing. (The downward-API variables are the sandbox's.)
func secretEnv(t *testing.T, namespace string, vars []corev1.EnvVar) []string {
	t.Helper()
	var out []string
	for _, v := range vars {
		if v.ValueFrom == nil && v.Value != "" {
			out = append(out, v.Name+"="+v.Value)
			continue
		}
		if v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := v.ValueFrom.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := env.Clientset.CoreV1().Secrets(namespace).Get(context.Background(), ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && optional {
			continue
		}
		if err != nil {
			t.Fatalf("env %s: %v", v.Name, err)
		}
		val, ok := s.Data[ref.Key]
		if !ok {
			if optional {
				continue
			}
			t.Fatalf("env %s: Secret %s has no key %s", v.Name, ref.Name, ref.Key)
		}
		out = append(out, v.Name+"="+string(val))
	}
	return out
}

// notifyCaller is the ServiceAccount bundle-katalog.yaml allows to POST
// /notify.
const notifyCallerNamespace, notifyCaller = "bundle-apps", "notifier"

// notifyClient posts to the replica's /notify, trusting the CA of the
// gateway's Secret, with the helpers of the notify e2e.
func (c *bundleCase) notifyClient(t *testing.T, g *gateway) *notifyGateway {
	t.Helper()
	sec, err := env.Clientset.CoreV1().Secrets(c.namespace).Get(context.Background(), c.src.Policy.Certs.SecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the gateway's TLS Secret: %v", err)
	}
	return &notifyGateway{gateway: g, client: webhookClient(t, sec.Data["ca.crt"]),
		url: fmt.Sprintf("https://127.0.0.1:%d/notify", g.notifyPort)}
}

// setSecretEnv writes the bundle's optional Secret of {env: NAME} values,
// whose name the Deployment's env references, as `kubectl create secret`
// would (replacing what an earlier run left).
func (c *bundleCase) setSecretEnv(t *testing.T, values map[string]string) {
	t.Helper()
	ctx := context.Background()
	name := ""
	for _, v := range c.deployment(t).Spec.Template.Spec.Containers[0].Env {
		if v.ValueFrom != nil && v.ValueFrom.SecretKeyRef != nil {
			if _, ok := values[v.Name]; ok {
				name = v.ValueFrom.SecretKeyRef.Name
			}
		}
	}
	if name == "" {
		t.Fatalf("the Deployment reads none of %v from a Secret", slices.Collect(maps.Keys(values)))
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.namespace}, StringData: values}
	secrets := env.Clientset.CoreV1().Secrets(c.namespace)
	if err := secrets.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *bundleCase) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	dep, err := env.Clientset.AppsV1().Deployments(c.namespace).Get(context.Background(), c.object(t, "Deployment").Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dep
}

var sprockets = schema.GroupVersionResource{Group: "bundle.example.com", Version: "v2", Resource: "sprockets"}

// ensureSprocketCRD creates the bundle tests' conversion CRD and waits
// until it is served.
func ensureSprocketCRD(t *testing.T) {
	t.Helper()
	applyCRD(t, readTestdata(t, "bundle-crd.yaml"))
}

// katalogRegistrations counts the webhook configurations of one Katalog.
func katalogRegistrations(t *testing.T, katalog string) []string {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: registration.KatalogLabel + "=" + katalog}
	v, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	m, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range v.Items {
		names = append(names, c.Name)
	}
	for _, c := range m.Items {
		names = append(names, c.Name)
	}
	return names
}

// removeOtherRegistrations deletes what gateways of earlier tests left
// registered (they are killed with SIGKILL): their webhooks fail closed and
// would answer some of this test's requests instead of its own gateway.
func removeOtherRegistrations(t *testing.T, keep string) {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: managedSelector}
	katalogs := map[string]bool{}
	v, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Items {
		katalogs[c.Labels[registration.KatalogLabel]] = true
	}
	m, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Items {
		katalogs[c.Labels[registration.KatalogLabel]] = true
	}
	for _, gvr := range []schema.GroupVersionResource{vapGVR, mapGVR} {
		l, err := env.Dynamic.Resource(gvr).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			katalogs[o.GetLabels()[registration.KatalogLabel]] = true
		}
	}
	for k := range katalogs {
		if k != keep && k != "" {
			if err := registration.Remove(ctx, env.Dynamic, k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBundle installs a generated bundle on a real API server (dry run,
// then for real, then again without a change) and runs the gateway with
// exactly the bundle's permissions: it registers its webhooks, creates its
// Secret, enforces protection, and removes its registrations on SIGTERM.
func TestBundle(t *testing.T) {
	ctx := context.Background()
	removeOtherRegistrations(t, "")
	ensureWidgetCRD(t)
	ensureSprocketCRD(t)
	ensureNamespace(t, "bundle-apps", nil)
	c := newBundleCase(t, "bundle", "orkestra-bundle", true)

	// The server refuses every namespaced object of a namespace that does
	// not exist yet, dry run or not: create it first, as kubectl apply does
	// when the Namespace comes first in the stream.
	_, dyn, warns := clientsFor(t, env.Config)
	if err := apply(ctx, dyn, c.b.Objects[0], c.b.Objects[0].YAML, false); err != nil {
		t.Fatal(err)
	}
	for _, o := range c.b.Objects {
		if err := apply(ctx, dyn, o, o.YAML, true); err != nil {
			t.Fatalf("server-side apply, dry run: %v", err)
		}
	}
	for _, o := range c.b.Objects {
		if err := apply(ctx, dyn, o, o.YAML, false); err != nil {
			t.Fatalf("server-side apply: %v", err)
		}
	}
	// Pod Security admission warns when a workload's pod template breaks the
	// namespace's enforced level (restricted): the bundle's does not.
	if w := warns.all(); w != "" {
		t.Errorf("the API server warned while applying the bundle:\n%s", w)
	}
	// Re-applying the same bundle changes nothing.
	versions := map[string]string{}
	for _, o := range c.b.Objects {
		versions[o.Kind] = resourceVersion(t, o)
	}
	for _, o := range c.b.Objects {
		if err := apply(ctx, dyn, o, o.YAML, false); err != nil {
			t.Fatal(err)
		}
		if rv := resourceVersion(t, o); rv != versions[o.Kind] {
			t.Errorf("re-applying %s %s wrote it again (resourceVersion %s -> %s)", o.Kind, o.Name, versions[o.Kind], rv)
		}
	}
	dep, err := env.Clientset.AppsV1().Deployments(c.namespace).Get(ctx, c.object(t, "Deployment").Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkStoredDeployment(t, dep)

	// The team's Slack webhook, from the Secret the Deployment reads it from.
	slack := notifytest.NewSlack(t, "")
	c.setSecretEnv(t, map[string]string{"BUNDLE_SLACK_WEBHOOK": slack.WebhookURL("bundle-ops")})

	c.waitRBAC(t, "", -1)
	g := c.start(t, true, "--sync-interval", "1s")

	// Its Secret, in its namespace, labelled protected.
	secretName := c.src.Policy.Certs.SecretName
	sec, err := env.Clientset.CoreV1().Secrets(c.namespace).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the gateway's TLS Secret: %v", err)
	}
	if sec.Labels[protectionLabel] != "true" {
		t.Errorf("Secret labels %v", sec.Labels)
	}
	// Every configuration it registered is one the ClusterRole names.
	var named []string
	for _, r := range c.rules(t, "ClusterRole") {
		named = append(named, r.ResourceNames...)
	}
	regs := katalogRegistrations(t, c.name)
	slices.Sort(regs)
	if len(regs) != 5 {
		t.Errorf("registered %v, want the 5 configurations of the Katalog", regs)
	}
	for _, n := range regs {
		if !slices.Contains(named, n) {
			t.Errorf("registered %s, which the ClusterRole does not name", n)
		}
	}

	// Admission works.
	waitProtection(t, "default")
	cms := env.Clientset.CoreV1().ConfigMaps("bundle-apps")
	mustCreateCM(t, "bundle-apps", "guarded", protected)
	if err := cms.Delete(ctx, "guarded", metav1.DeleteOptions{}); !isForbidden(err) {
		t.Errorf("delete of a protected ConfigMap: want Forbidden, got %v", err)
	}
	if err := env.Clientset.CoreV1().Secrets(c.namespace).Delete(ctx, secretName, metav1.DeleteOptions{}); !isForbidden(err) {
		t.Errorf("delete of the gateway's own Secret: want Forbidden, got %v", err)
	}
	w := widget("bundled", map[string]any{"replicas": int64(2)})
	got, err := env.Dynamic.Resource(widgets).Namespace("bundle-apps").Create(ctx, w, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a valid widget: %v", err)
	}
	if tier, _ := got.Object["spec"].(map[string]any)["tier"].(string); tier != "bronze" {
		t.Errorf("spec.tier = %q, want the mutation default bronze", tier)
	}
	bad := widget("too-big", map[string]any{"replicas": int64(50)})
	if _, err := env.Dynamic.Resource(widgets).Namespace("bundle-apps").Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("an invalid widget: want Invalid, got %v", err)
	}

	// Conversion: the gateway pointed the CRD at its /convert (get, patch on
	// that CRD only) and converts v1 to the stored v2.
	crd, err := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")).Get(ctx, "sprockets.bundle.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url, _, _ := unstructured.NestedString(crd.Object, "spec", "conversion", "webhook", "clientConfig", "url")
	if want := fmt.Sprintf("https://127.0.0.1:%d/convert", g.webhookPort); url != want {
		t.Errorf("CRD conversion URL %q, want %q", url, want)
	}
	v1 := schema.GroupVersionResource{Group: sprockets.Group, Version: "v1", Resource: sprockets.Resource}
	s1 := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "bundle.example.com/v1", "kind": "Sprocket",
		"metadata": map[string]any{"name": "converted"}, "spec": map[string]any{"size": int64(3)},
	}}
	eventually(t, 30*time.Second, "a v1 sprocket stored through the gateway's conversion", func() error {
		_, err := env.Dynamic.Resource(v1).Namespace("bundle-apps").Create(ctx, s1, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	s2, err := env.Dynamic.Resource(sprockets).Namespace("bundle-apps").Get(ctx, "converted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(s2.Object, "spec", "replicas"); r != 3 {
		t.Errorf("v2 spec %v, want replicas 3 from v1 size 3", s2.Object["spec"])
	}

	// Notifications: the gateway authenticates callers with a TokenReview
	// (create tokenreviews) and relays the allowed one's event.
	n := c.notifyClient(t, g)
	ev := notifyEvent("bundled", "katalogName", c.name, "teamName", "ops")
	a := n.mustPost(t, saToken(t, notifyCallerNamespace, notifyCaller), "", ev, http.StatusAccepted)
	if a.body["status"] != "queued" {
		t.Errorf("POST /notify by %s/%s: %s", notifyCallerNamespace, notifyCaller, a.raw)
	}
	hooks := slack.WaitDelivered(t, 1, 10*time.Second)
	if len(hooks) != 1 || hooks[0].Path != "/hooks/bundle-ops" || hooks[0].Text != "1 of 3 replicas are ready" {
		t.Errorf("Slack received %+v, want the rendered message on the ops webhook", hooks)
	}
	// A second replica, with the same permissions, suppresses the same
	// event: the first one's Lease holds its key (create, then get).
	g2 := c.startReplica(t, &gateway{webhookPort: freePort(t), probePort: freePort(t), notifyPort: freePort(t)}, true)
	a = c.notifyClient(t, g2).mustPost(t, saToken(t, notifyCallerNamespace, notifyCaller), "", ev, http.StatusAccepted)
	if a.body["status"] != "suppressed" || !strings.Contains(fmt.Sprint(a.body["reason"]), "another replica") {
		t.Errorf("the same event at a second replica: %s", a.raw)
	}
	if got := metric(t, g2, "orkestra_gateway_notify_claims_total"); got != 1 || strings.Contains(g2.proc.Logs(), "delivering anyway") {
		t.Errorf("the second replica made %v claims (want 1, held), logs:\n%s", got, g2.proc.Logs())
	}
	g2.proc.Kill() // in URL mode its SIGTERM would remove the registrations
	a = n.mustPost(t, saToken(t, notifyCallerNamespace, "intruder"), "", notifyEvent("intruded", "katalogName", c.name, "teamName", "ops"), http.StatusForbidden)
	if msg, _ := a.body["error"].(string); !strings.Contains(msg, "system:serviceaccount:"+notifyCallerNamespace+":intruder is not allowed") {
		t.Errorf("403 answer %s", a.raw)
	}

	// SIGTERM: the last replica removes its registrations (cleanupOnShutdown),
	// with the bundle's permissions.
	if err := g.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := g.proc.Wait(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit %d, %v\n%s", code, err, g.proc.Logs())
	}
	if regs := katalogRegistrations(t, c.name); len(regs) != 0 {
		t.Errorf("left registered after SIGTERM: %v\n%s", regs, g.proc.Logs())
	}
	eventually(t, 10*time.Second, "protected ConfigMap deletable after uninstall", func() error {
		return cms.Delete(ctx, "guarded", metav1.DeleteOptions{})
	})

	// The rest of the uninstall of docs/install.md. The last replica also
	// reset the CRD it converted: it stays readable at every version with
	// no gateway (objects as stored, apiVersion aside).
	if st := sprocketStrategy(t); st != "None" {
		t.Errorf("the sprocket CRD's conversion strategy after the uninstall is %q, want None", st)
	}
	for _, gvr := range []schema.GroupVersionResource{v1, sprockets} {
		eventually(t, 30*time.Second, "sprocket read at "+gvr.Version+" with no gateway", func() error {
			_, err := env.Dynamic.Resource(gvr).Namespace("bundle-apps").Get(ctx, "converted", metav1.GetOptions{})
			return err
		})
	}
	// kubectl delete -f deploy/: every object of the bundle, last first.
	// envtest runs no namespace controller, so what deleting the Namespace
	// removes is deleted here one by one: the bundle's namespaced objects
	// and the gateway's TLS Secret, which no webhook protects any more.
	for i := len(c.b.Objects) - 1; i >= 0; i-- {
		o := c.b.Objects[i]
		if o.Kind == "Namespace" {
			continue
		}
		ri := env.Dynamic.Resource(bundleResources[o.Kind])
		var err error
		if o.Namespace != "" {
			err = ri.Namespace(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		} else {
			err = ri.Delete(ctx, o.Name, metav1.DeleteOptions{})
		}
		if err != nil {
			t.Errorf("kubectl delete %s %s: %v", o.Kind, o.Name, err)
		}
	}
	if err := env.Clientset.CoreV1().Secrets(c.namespace).Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting the TLS Secret with the namespace: %v", err)
	}
	// Nothing of the gateway is left but the CRD and its objects (yours).
	for _, o := range c.b.Objects[1:] {
		ri := env.Dynamic.Resource(bundleResources[o.Kind])
		var err error
		if o.Namespace != "" {
			_, err = ri.Namespace(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		} else {
			_, err = ri.Get(ctx, o.Name, metav1.GetOptions{})
		}
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s %s left after the uninstall (%v)", o.Kind, o.Name, err)
		}
	}
	for _, gvr := range []schema.GroupVersionResource{validatingGVR, mutatingGVR} {
		l, err := env.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: katalogLabel + "=" + c.name})
		if err != nil || len(l.Items) > 0 {
			t.Errorf("%s of the Katalog left after the uninstall: %v %v", gvr.Resource, len(l.Items), err)
		}
	}
}

func resourceVersion(t *testing.T, o bundle.Object) string {
	t.Helper()
	ri := env.Dynamic.Resource(bundleResources[o.Kind])
	var u interface{ GetResourceVersion() string }
	var err error
	if o.Namespace != "" {
		u, err = ri.Namespace(o.Namespace).Get(context.Background(), o.Name, metav1.GetOptions{})
	} else {
		u, err = ri.Get(context.Background(), o.Name, metav1.GetOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return u.GetResourceVersion()
}

// checkStoredDeployment: what the API server stored still has the settings
// that matter (nothing was dropped as unknown).
func checkStoredDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	switch {
	case pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot:
		t.Error("stored pod runs as root")
	case c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem:
		t.Error("stored container has a writable root")
	case c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil:
		t.Error("stored container lost its preStop sleep")
	case len(pod.TopologySpreadConstraints) != 1:
		t.Error("stored pod lost its spread constraint")
	}
}

// ruleFailure is what the gateway does without one rule of the bundle.
type ruleFailure struct {
	// exits: the process stops (no certificate); else it runs not ready.
	exits bool
	// notify: the gateway is ready, but POST /notify cannot authenticate
	// even an allowed caller: 503 (retry later) with want in the error.
	notify bool
	// shared: the gateway is ready and delivers, but cannot tell whether
	// another replica already sent the event: two replicas deliver it
	// twice, count the claim as unavailable and log want.
	shared bool
	// want appears in the error (stderr when it exits, the /notify answer
	// with notify, /readyz otherwise).
	want string
	// stale pre-creates outdated configurations, so the gateway must update.
	stale bool
}

// failures says, for each rule of the bundle (by resource and verbs), how
// the gateway fails without it. A rule with no entry fails the test: every
// permission the bundle grants must be needed.
var failures = map[string]ruleFailure{
	"validatingadmissionpolicies create":           {want: `cannot create resource "validatingadmissionpolicies"`},
	"validatingadmissionpolicies get,delete":       {want: `cannot get resource "validatingadmissionpolicies"`},
	"validatingadmissionpolicies update":           {want: `cannot update resource "validatingadmissionpolicies"`, stale: true},
	"validatingadmissionpolicybindings create":     {want: `cannot create resource "validatingadmissionpolicybindings"`},
	"validatingadmissionpolicybindings get,delete": {want: `cannot get resource "validatingadmissionpolicybindings"`},
	"validatingadmissionpolicybindings update":     {want: `cannot update resource "validatingadmissionpolicybindings"`, stale: true},
	"mutatingadmissionpolicies create":             {want: `cannot create resource "mutatingadmissionpolicies"`},
	"mutatingadmissionpolicies get,delete":         {want: `cannot get resource "mutatingadmissionpolicies"`},
	"mutatingadmissionpolicies update":             {want: `cannot update resource "mutatingadmissionpolicies"`, stale: true},
	"mutatingadmissionpolicybindings create":       {want: `cannot create resource "mutatingadmissionpolicybindings"`},
	"mutatingadmissionpolicybindings get,delete":   {want: `cannot get resource "mutatingadmissionpolicybindings"`},
	"mutatingadmissionpolicybindings update":       {want: `cannot update resource "mutatingadmissionpolicybindings"`, stale: true},
	"validatingwebhookconfigurations create":       {want: `cannot create resource "validatingwebhookconfigurations"`},
	"validatingwebhookconfigurations get,delete":   {want: `cannot get resource "validatingwebhookconfigurations"`},
	"validatingwebhookconfigurations update":       {want: `cannot update resource "validatingwebhookconfigurations"`, stale: true},
	"mutatingwebhookconfigurations create":         {want: `cannot create resource "mutatingwebhookconfigurations"`},
	"mutatingwebhookconfigurations get,delete":     {want: `cannot get resource "mutatingwebhookconfigurations"`},
	"mutatingwebhookconfigurations update":         {want: `cannot update resource "mutatingwebhookconfigurations"`, stale: true},
	"customresourcedefinitions get,patch":          {want: `cannot get resource "customresourcedefinitions"`},
	"secrets create":                               {exits: true, want: `cannot create resource "secrets"`},
	"secrets get,update":                           {exits: true, want: `cannot get resource "secrets"`},
	"tokenreviews create":                          {notify: true, want: `cannot create resource "tokenreviews"`},
	"leases create":                                {shared: true, want: `cannot create resource "leases"`},
	"leases get,update,delete":                     {shared: true, want: `cannot get resource "leases"`},
}

// TestBundleMinimal removes each rule of the bundle in turn and checks the
// gateway fails in the way that rule is meant to prevent, for a Katalog on
// the webhook engine and one on the native engine. (The EndpointSlices rule
// is only generated in Service mode: see TestBundleEndpointSlices.)
func TestBundleMinimal(t *testing.T) {
	removeOtherRegistrations(t, "")
	ensureWidgetCRD(t)
	ensureSprocketCRD(t)
	seen := map[string]bool{}
	t.Run("webhook", func(t *testing.T) { bundleMinimal(t, policy.EngineWebhook, "bm", seen) })
	t.Run("native", func(t *testing.T) {
		// With every rule, the gateway registers its policies, which enforce.
		c := newEngineBundleCase(t, "bmn-all", "bmn-all", true, policy.EngineNative)
		c.install(t, "", -1)
		c.waitRBAC(t, "", -1)
		g := c.start(t, true)
		if w, p := katalogAdmissionObjects(t, c.name); len(w) != 0 || len(p) == 0 {
			t.Fatalf("engine native registered webhook configurations %v and policies %v", w, p)
		}
		waitProtection(t, "default")
		if err := g.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, err := g.proc.Wait(30 * time.Second); err != nil || code != 0 {
			t.Fatalf("SIGTERM: exit %d, %v\n%s", code, err, g.proc.Logs())
		}
		if w, p := katalogAdmissionObjects(t, c.name); len(w)+len(p) != 0 {
			t.Errorf("left registered after SIGTERM: %v %v", w, p)
		}
		bundleMinimal(t, policy.EngineNative, "bmn", seen)
	})
	for key := range failures {
		if !seen[key] {
			t.Errorf("no bundle has the rule %q the test expects", key)
		}
	}
}

func bundleMinimal(t *testing.T, engine policy.Engine, prefix string, seen map[string]bool) {
	probe := newEngineBundleCase(t, prefix+"-probe", prefix+"-probe", true, engine)
	n := 0
	for _, kind := range []string{"ClusterRole", "Role"} {
		for i, r := range probe.rules(t, kind) {
			n++
			key := r.Resources[0] + " " + strings.Join(r.Verbs, ",")
			seen[key] = true
			t.Run(key, func(t *testing.T) {
				f, ok := failures[key]
				if !ok {
					t.Fatalf("no expected failure for rule %q: add one (or remove the rule from the bundle)", key)
				}
				name := fmt.Sprintf("%s-%d", prefix, n)
				c := newEngineBundleCase(t, name, name, true, engine)
				c.install(t, kind, i)
				c.waitRBAC(t, kind, i)
				if f.stale {
					staleRegistrations(t, c)
				}
				if f.shared {
					sharedUndecided(t, c, key, f.want)
					return
				}
				g := c.start(t, f.notify)
				if f.notify {
					notifyUnauthenticated(t, c, g, key, f.want)
					return
				}
				if f.exits {
					code, err := g.proc.Wait(30 * time.Second)
					if err != nil || code == 0 {
						t.Fatalf("without %q the gateway should exit with an error; exit %d, %v\n%s", key, code, err, g.proc.Logs())
					}
					if !strings.Contains(g.proc.Logs(), f.want) {
						t.Errorf("without %q: output lacks %q:\n%s", key, f.want, g.proc.Logs())
					}
					return
				}
				// /readyz names the condition; the API server's error is in
				// the log only.
				eventually(t, 30*time.Second, "not ready for the expected reason", func() error {
					if exited(g.proc) {
						t.Fatalf("without %q the gateway exited:\n%s", key, g.proc.Logs())
					}
					code, body := g.probe("/readyz")
					if code == 503 && loggedError(g.proc.Logs(), f.want) {
						if strings.Contains(body, "cannot") || strings.Contains(body, "forbidden") {
							t.Fatalf("/readyz echoes the API server's error: %q", body)
						}
						return nil
					}
					return errorf("/readyz %d %q, want 503 and %q in the log", code, body, f.want)
				})
			})
		}
	}
	if n == 0 {
		t.Error("the bundle has no rules")
	}
}

// notifyUnauthenticated: without create on tokenreviews the gateway cannot
// verify any caller's token. It stays ready (admission does not depend on
// it) but refuses even the allowed caller with 503 and a Retry-After, logs
// a warning and counts the failure, which is how an operator notices.
func notifyUnauthenticated(t *testing.T, c *bundleCase, g *gateway, key, want string) {
	t.Helper()
	n := c.notifyClient(t, g)
	token := saToken(t, notifyCallerNamespace, notifyCaller)
	ev := notifyEvent("unauthenticated", "katalogName", c.name, "teamName", "ops")
	req, err := http.NewRequest(http.MethodPost, n.url, bytes.NewReader(mustJSON(t, ev)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("POST /notify: %v\n%s", err, g.proc.Logs())
	}
	defer resp.Body.Close()
	var answer struct{ Error string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	// Nothing but 401 before authentication: with Retry-After, since the
	// token could not be checked at all.
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Retry-After") == "" ||
		answer.Error != "the token cannot be verified now; retry later" {
		t.Errorf("without %q: POST /notify by the allowed caller got %d (Retry-After %q) %q, want 401 with Retry-After and a generic message",
			key, resp.StatusCode, resp.Header.Get("Retry-After"), answer.Error)
	}
	// The API server's error (it names the gateway's ServiceAccount) is
	// logged, never sent to a caller that is not authenticated yet.
	if strings.Contains(answer.Error, "serviceaccount") || strings.Contains(answer.Error, "forbidden") {
		t.Errorf("the answer leaks the API server's error: %q", answer.Error)
	}
	if code, body := g.probe("/readyz"); code != http.StatusOK {
		t.Errorf("without %q: /readyz %d %q, want ready (only /notify needs TokenReviews)", key, code, body)
	}
	if _, metrics := g.probe("/metrics"); !strings.Contains(metrics, `orkestra_gateway_notify_auth_failures_total{reason="error"} 1`) {
		t.Errorf("without %q: metrics do not count the failed TokenReview:\n%s", key, grepLines(metrics, "orkestra_gateway_notify_auth"))
	}
	if !loggedRefusal(g.proc.Logs(), want) {
		t.Errorf("without %q: no warning naming %q in the logs:\n%s", key, want, g.proc.Logs())
	}
}

// sharedUndecided: without a lease rule two replicas cannot share the
// throttle. The first posts an event (without create it cannot claim the
// key; without get it claims it), the second gets the same event, cannot
// read the first one's claim, delivers it again (at least once beats
// never), counts the claim as unavailable and logs why.
func sharedUndecided(t *testing.T, c *bundleCase, key, want string) {
	t.Helper()
	slack := notifytest.NewSlack(t, "")
	c.setSecretEnv(t, map[string]string{"BUNDLE_SLACK_WEBHOOK": slack.WebhookURL("bundle-ops")})
	token := saToken(t, notifyCallerNamespace, notifyCaller)
	ev := notifyEvent("undecided", "katalogName", c.name, "teamName", "ops", "id", "undecided-1")
	g1 := c.start(t, true)
	c.notifyClient(t, g1).mustPost(t, token, "", ev, http.StatusAccepted)
	slack.WaitDelivered(t, 1, 10*time.Second)
	g2 := c.startReplica(t, &gateway{webhookPort: freePort(t), probePort: freePort(t), notifyPort: freePort(t)}, true)
	a := c.notifyClient(t, g2).mustPost(t, token, "", ev, http.StatusAccepted)
	if a.body["status"] != "queued" {
		t.Errorf("without %q the second replica answered %s, want queued (delivered anyway)", key, a.raw)
	}
	if got := len(slack.WaitDelivered(t, 2, 10*time.Second)); got != 2 {
		t.Errorf("without %q: %d deliveries, want the duplicate the rule prevents", key, got)
	}
	if _, metrics := g2.probe("/metrics"); !strings.Contains(metrics, `orkestra_gateway_notify_claims_total{result="unavailable"} 2`) { // the id and the key
		t.Errorf("without %q: the unavailable claim is not counted:\n%s", key, grepLines(metrics, "orkestra_gateway_notify_claims"))
	}
	if logs := g2.proc.Logs(); !strings.Contains(logs, "delivering anyway") || !strings.Contains(logs, strings.ReplaceAll(want, `"`, `\"`)) {
		t.Errorf("without %q: no warning naming %q in the logs:\n%s", key, want, logs)
	}
}

// loggedError reports whether the JSON logs have an error line whose err
// holds want.
func loggedError(logs, want string) bool {
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Level, Err string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "ERROR" && strings.Contains(l.Err, want) {
			return true
		}
	}
	return false
}

// loggedRefusal reports whether the JSON logs have the warning of a /notify
// caller refused because its token could not be checked, with want in err.
func loggedRefusal(logs, want string) bool {
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Level, Msg, Reason, Err string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "WARN" && l.Msg == "notify caller refused" &&
			l.Reason == "error" && strings.Contains(l.Err, want) {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// staleRegistrations creates the Katalog's configurations (or, on the
// native engine, its policies and bindings) as an admin, different from
// what the gateway wants, so the gateway has to update them.
func staleRegistrations(t *testing.T, c *bundleCase) {
	t.Helper()
	ep := registration.Endpoint{Namespace: c.namespace, Service: c.src.Policy.Gateway.ServiceName, URL: c.src.Policy.Gateway.URL}
	if c.src.Policy.Admission.Engine == policy.EngineNative {
		pl, err := registration.NewPlan(c.src.Policy, ep, nil, registration.Support{Validating: true, Mutating: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, np := range pl.Native {
			if np.Validating != nil {
				np.Validating.Spec.FailurePolicy = opposite(np.Validating.Spec.FailurePolicy)
				np.ValidatingBinding.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Audit}
			} else {
				np.Mutating.Spec.FailurePolicy = opposite(np.Mutating.Spec.FailurePolicy)
				np.MutatingBinding.Spec.MatchResources = &admissionregistrationv1.MatchResources{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"stale": "true"}},
				}
			}
		}
		if _, _, err := pl.Apply(context.Background(), env.Dynamic, nil, c.name); err != nil {
			t.Fatal(err)
		}
		return
	}
	v, m := registration.Desired(c.src.Policy, ep, env.CAPEM)
	if _, err := registration.Apply(context.Background(), env.Dynamic, c.name, v, m); err != nil {
		t.Fatal(err)
	}
}

func opposite(fp *admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.FailurePolicyType {
	o := admissionregistrationv1.Ignore
	if fp != nil && *fp == admissionregistrationv1.Ignore {
		o = admissionregistrationv1.Fail
	}
	return &o
}

// TestBundleEndpointSlices: in Service mode a stopping replica lists its
// Service's EndpointSlices to tell whether it is the last one. With the
// bundle's Role it is (no other endpoint): it removes the registrations and
// resets the conversion CRD to strategy None. Without the list rule it
// cannot tell, and with another ready endpoint it is not the last: either
// way it keeps both.
func TestBundleEndpointSlices(t *testing.T) {
	removeOtherRegistrations(t, "")
	ensureWidgetCRD(t)
	ensureSprocketCRD(t)
	for _, tc := range []struct {
		name     string
		drop     bool
		other    bool // another ready endpoint in the Service's EndpointSlices
		log      string
		remained bool
	}{
		{"with the rule", false, false, "registrations removed", false},
		{"without the rule", true, false, "cannot tell whether other replicas remain; keeping registrations", true},
		{"another ready replica", false, true, "other ready replicas remain; keeping registrations", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "bes-" + map[bool]string{false: "with", true: "without"}[tc.drop]
			if tc.other {
				name = "bes-other"
			}
			c := newBundleCase(t, name, name, false)
			drop := -1
			for i, r := range c.rules(t, "Role") {
				if r.Resources[0] == "endpointslices" {
					drop = i
				}
			}
			if drop < 0 {
				t.Fatal("the Role of a Service-mode bundle has no endpointslices rule")
			}
			if !tc.drop {
				drop = -1
			}
			c.install(t, "Role", drop)
			c.waitRBAC(t, "Role", drop)
			g := c.start(t, true)
			if len(katalogRegistrations(t, name)) == 0 {
				t.Fatal("nothing registered")
			}
			if s := sprocketStrategy(t); s != "Webhook" {
				t.Fatalf("the gateway did not point the sprocket CRD at itself: strategy %q", s)
			}
			if tc.other {
				otherReadyEndpoint(t, c.namespace, c.src.Policy.Gateway.ServiceName)
			}
			if err := g.proc.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code, err := g.proc.Wait(30 * time.Second); err != nil || code != 0 {
				t.Fatalf("SIGTERM: exit %d, %v\n%s", code, err, g.proc.Logs())
			}
			if !strings.Contains(g.proc.Logs(), tc.log) {
				t.Errorf("logs lack %q:\n%s", tc.log, g.proc.Logs())
			}
			if left := katalogRegistrations(t, name); (len(left) > 0) != tc.remained {
				t.Errorf("after SIGTERM %v remain registered, want remaining=%v", left, tc.remained)
			}
			want := map[bool]string{false: "None", true: "Webhook"}[tc.remained]
			if s := sprocketStrategy(t); s != want {
				t.Errorf("after SIGTERM the sprocket CRD's conversion strategy is %q, want %s", s, want)
			}
		})
	}
}

func sprocketStrategy(t *testing.T) string {
	t.Helper()
	u, err := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")).Get(context.Background(), "sprockets.bundle.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy")
	return s
}

// otherReadyEndpoint adds an EndpointSlice of the Service with a ready
// endpoint that is not the sandboxed replica, as the endpoints controller
// would for a second replica.
func otherReadyEndpoint(t *testing.T, namespace, service string) {
	t.Helper()
	ready := true
	port, proto := int32(8443), corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-other", Namespace: namespace, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.77.0.99"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Port: &port, Protocol: &proto}},
	}
	if _, err := env.Clientset.DiscoveryV1().EndpointSlices(namespace).Create(context.Background(), slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Clientset.DiscoveryV1().EndpointSlices(namespace).Delete(context.Background(), slice.Name, metav1.DeleteOptions{})
	})
}
