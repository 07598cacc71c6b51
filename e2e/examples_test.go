package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// exampleExercises are what each example directory's README promises, tried
// on the control plane. An example directory without an entry fails
// TestExamples: a new example comes with its exercise.
var exampleExercises = map[string]func(t *testing.T, ex *example){
	"gateway": exerciseGatewayExample,
	"pods":    exercisePodsExample,
	"website": exerciseWebsiteExample,
}

// example is one example directory's gateway, running its Katalog as
// written except for gateway.url (the test API server cannot resolve
// Service names).
type example struct {
	name    string // directory under examples/
	katalog string // metadata.name
	g       *gateway
	slack   *slackStandIn
}

// TestExamples runs the gateway with every examples/*/katalog.yaml and
// checks what its README says it shows. ork validate on the examples is
// cmd/ork's TestExamplesValidate.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*", "katalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d examples, want at least 2", len(files))
	}
	for _, f := range files {
		dir := filepath.Dir(f)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			exercise := exampleExercises[name]
			if exercise == nil {
				t.Fatalf("examples/%s has no exercise: add one to exampleExercises in e2e/examples_test.go", name)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "README.md")); err != nil || len(bytes.TrimSpace(b)) == 0 {
				t.Fatalf("examples/%s/README.md must say what the example shows: %v", name, err)
			}
			ex := startExample(t, dir)
			exercise(t, ex)
			stopExample(t, ex)
		})
	}
}

// startExample applies the example's CRDs (crds/*.yaml) and starts the
// gateway with its Katalog; Slack webhook URLs from the environment point
// at a local stand-in.
func startExample(t *testing.T, dir string) *example {
	t.Helper()
	text := readExampleFile(t, filepath.Join(dir, "katalog.yaml"))
	var meta struct {
		Metadata struct{ Name string }
	}
	if err := yaml.Unmarshal([]byte(text), &meta); err != nil || meta.Metadata.Name == "" {
		t.Fatalf("%s/katalog.yaml: no metadata.name (%v)", dir, err)
	}
	// gateway.url is the only change: the first key of the gateway block.
	withURL := strings.Replace(text, "\ngateway:\n", "\ngateway:\n  url: \"{{URL}}\"\n", 1)
	if withURL == text {
		t.Fatalf("%s/katalog.yaml has no top-level gateway block to set gateway.url in", dir)
	}
	files := map[string]string{}
	crdFiles, _ := filepath.Glob(filepath.Join(dir, "crds", "*.yaml"))
	for _, f := range crdFiles {
		content := readExampleFile(t, f)
		files[filepath.Join("crds", filepath.Base(f))] = content
		name := applyCRD(t, content)
		// Runs after the registrations are gone (cleanups run in reverse),
		// when protectCRD no longer holds: later tests start from a clean
		// cluster and a re-run applies the CRD afresh.
		t.Cleanup(func() {
			crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
			if err := crds.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting CRD %s: %v", name, err)
			}
		})
	}
	ex := &example{name: filepath.Base(dir), katalog: meta.Metadata.Name, slack: newSlackStandIn(t)}
	// Registrations of a failed run must not outlive it: a dead gateway's
	// Fail webhooks would deny the next tests' requests.
	t.Cleanup(func() { removeExampleRegistrations(t, ex.katalog) })
	ex.g = startGateway(t, gatewayOptions{
		Katalog: withURL,
		Files:   files,
		Args:    []string{"--sync-interval", "1s"},
		Env: []string{
			"SLACK_WEBHOOK_URL=" + ex.slack.url + "/hooks/default",
			"PLATFORM_SLACK_WEBHOOK_URL=" + ex.slack.url + "/hooks/platform",
		},
	})
	waitProtection(t, "default")
	return ex
}

// stopExample stops the gateway with SIGTERM: it must exit 0 and remove
// its registrations (cleanupOnShutdown defaults to true).
func stopExample(t *testing.T, ex *example) {
	t.Helper()
	if err := ex.g.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := ex.g.proc.Wait(30 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, ex.g.proc.Logs())
	}
	if n := exampleRegistrations(t, ex.katalog); n != 0 {
		t.Errorf("%d webhook configurations of Katalog %s left after SIGTERM\n%s", n, ex.katalog, ex.g.proc.Logs())
	}
}

func readExampleFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// applyCRD creates the CRD (if absent), waits until every version
// is served and returns its name.
func applyCRD(t *testing.T, content string) string {
	t.Helper()
	var crd apiextv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict([]byte(content), &crd); err != nil {
		t.Fatal(err)
	}
	obj, err := toUnstructured(&crd)
	if err != nil {
		t.Fatal(err)
	}
	crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	if _, err := crds.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		gvr := schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: crd.Spec.Names.Plural}
		eventually(t, 30*time.Second, crd.Name+" served", func() error {
			// An empty namespace: objects left by earlier tests may need a
			// conversion webhook that is gone, and serving is what counts.
			var err error
			if crd.Spec.Scope == apiextv1.NamespaceScoped {
				_, err = env.Dynamic.Resource(gvr).Namespace("crd-probe").List(context.Background(), metav1.ListOptions{Limit: 1})
			} else {
				_, err = env.Dynamic.Resource(gvr).List(context.Background(), metav1.ListOptions{Limit: 1})
			}
			return err
		})
	}
	return crd.Name
}

func exampleKatalogSelector(name string) string { return "orkestra.orkspace.io/katalog=" + name }

func exampleRegistrations(t *testing.T, name string) int {
	t.Helper()
	ctx := context.Background()
	ar := env.Clientset.AdmissionregistrationV1()
	v, err := ar.ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: exampleKatalogSelector(name)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ar.MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: exampleKatalogSelector(name)})
	if err != nil {
		t.Fatal(err)
	}
	return len(v.Items) + len(m.Items)
}

func removeExampleRegistrations(t *testing.T, name string) {
	ctx := context.Background()
	ar := env.Clientset.AdmissionregistrationV1()
	opts := metav1.ListOptions{LabelSelector: exampleKatalogSelector(name)}
	if err := ar.ValidatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, opts); err != nil {
		t.Errorf("removing the validating configurations of %s: %v", name, err)
	}
	if err := ar.MutatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, opts); err != nil {
		t.Errorf("removing the mutating configurations of %s: %v", name, err)
	}
}

var exampleUnlabel = []byte(`{"metadata":{"labels":{"` + protectionLabel + `":null}}}`)

// examples/gateway: deletion protection with strict mode and break-glass
// for system:masters, namespace protection of kube-system and kube-public,
// the failure policies, notifications to the security team.
func exerciseGatewayExample(t *testing.T, ex *example) {
	ctx := context.Background()
	ns := "example-gateway"
	ensureNamespace(t, ns, nil)
	cms := env.Clientset.CoreV1().ConfigMaps(ns)

	t.Run("deletion protection", func(t *testing.T) {
		mustCreateCM(t, ns, "guarded", protected)
		if err := cms.Delete(ctx, "guarded", metav1.DeleteOptions{}); !isForbidden(err) {
			t.Fatalf("delete of a protected ConfigMap: want Forbidden, got %v", err)
		}
		mustCreateCM(t, ns, "plain", nil)
		if err := cms.Delete(ctx, "plain", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete of an unprotected ConfigMap: %v", err)
		}
	})

	t.Run("strict mode, break-glass for system:masters only", func(t *testing.T) {
		bindGroup(t, "examples:admins")
		cs, _, _ := clientsFor(t, env.ImpersonatedConfig("erin", "examples:admins", "system:authenticated"))
		_, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, "guarded", types.MergePatchType, exampleUnlabel, metav1.PatchOptions{})
		if !isForbidden(err) {
			t.Fatalf("a cluster-admin outside system:masters removing the label: want Forbidden, got %v", err)
		}
		// The test's admin is in system:masters, the example's break-glass group.
		admin, _, warns := clientsFor(t, env.Config)
		if _, err := admin.CoreV1().ConfigMaps(ns).Patch(ctx, "guarded", types.MergePatchType, exampleUnlabel, metav1.PatchOptions{}); err != nil {
			t.Fatalf("system:masters removing the label: %v", err)
		}
		if !strings.Contains(warns.all(), "break-glass") {
			t.Errorf("break-glass use without a warning: %q", warns.all())
		}
		if err := cms.Delete(ctx, "guarded", metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete once protection is lifted: %v", err)
		}
	})

	t.Run("namespace protection guards kube-system and kube-public", func(t *testing.T) {
		// The API server itself refuses to delete these two (NamespaceLifecycle
		// runs before webhooks), so check what the gateway registered.
		c, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "orkestra-gateway-platform-guard-namespace-protection", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, w := range c.Webhooks {
			b, _ := json.Marshal(w)
			if strings.Contains(string(b), `"namespaces"`) && strings.Contains(string(b), `"DELETE"`) &&
				strings.Contains(string(b), "kube-system") && strings.Contains(string(b), "kube-public") {
				found = true
				if w.FailurePolicy == nil || *w.FailurePolicy != "Fail" {
					t.Errorf("namespace DELETE webhook failure policy %v, want Fail", w.FailurePolicy)
				}
			}
		}
		if !found {
			t.Errorf("no webhook for DELETE of kube-system and kube-public in %s", c.Name)
		}
	})

	t.Run("protection fails closed", func(t *testing.T) {
		c, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "orkestra-gateway-platform-guard-deletion-protection", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.Webhooks {
			if w.FailurePolicy == nil || *w.FailurePolicy != "Fail" {
				t.Errorf("%s: failure policy %v, want Fail (failurePolicy: Fail)", w.Name, w.FailurePolicy)
			}
		}
	})

	t.Run("notifications to the security team", func(t *testing.T) {
		ex.exerciseNotify(t, "orkestra-system/alert-forwarder", map[string]any{
			"katalogName": "platform-guard", "crName": "kube-dns", "crNamespace": "kube-system",
			"gvk": "apps/v1/Deployment", "condKey": "Available=False", "teamName": "security",
			"subject": "kube-dns is down", "severity": "critical",
		}, "default", "[critical] kube-dns is down")
	})
}

// examples/website: validation and mutation rules, allowed namespaces,
// protection of the CRD and of labelled Websites, conversion between v1,
// v2 and v3, notifications.
func exerciseWebsiteExample(t *testing.T, ex *example) {
	ctx := context.Background()
	for _, ns := range []string{"web-example", "websites", "example-other"} {
		ensureNamespace(t, ns, nil)
	}
	ws := func(version, ns string) interface {
		Create(context.Context, *unstructured.Unstructured, metav1.CreateOptions, ...string) (*unstructured.Unstructured, error)
		Get(context.Context, string, metav1.GetOptions, ...string) (*unstructured.Unstructured, error)
		Delete(context.Context, string, metav1.DeleteOptions, ...string) error
	} {
		return env.Dynamic.Resource(schema.GroupVersionResource{Group: "web.example.com", Version: version, Resource: "websites"}).Namespace(ns)
	}
	site := func(version, name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "web.example.com/" + version, "kind": "Website",
			"metadata": map[string]any{"name": name}, "spec": spec,
		}}
	}
	good := func() map[string]any {
		return map[string]any{"image": "registry.example.com/site:1", "domain": "site.example.com", "replicas": int64(2)}
	}
	// Validation and mutation are registered at v2, conversion serves the
	// other versions: wait until the CRD's conversion points at the gateway.
	eventually(t, 30*time.Second, "conversion through the gateway", func() error {
		_, err := env.Dynamic.Resource(schema.GroupVersionResource{Group: "web.example.com", Version: "v1", Resource: "websites"}).Namespace("web-example").List(ctx, metav1.ListOptions{})
		return err
	})

	t.Run("allowed namespaces", func(t *testing.T) {
		for _, ns := range []string{"web-example", "websites"} {
			if _, err := ws("v2", ns).Create(ctx, site("v2", "allowed", good()), metav1.CreateOptions{}); err != nil {
				t.Errorf("a Website in %s: %v", ns, err)
			}
		}
		for _, ns := range []string{"example-other", "kube-public"} {
			if _, err := ws("v2", ns).Create(ctx, site("v2", "denied", good()), metav1.CreateOptions{}); !isForbidden(err) {
				t.Errorf("a Website in %s: want Forbidden, got %v", ns, err)
			}
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			spec map[string]any
			want string
		}{
			{map[string]any{"replicas": int64(11)}, "replicas must be between 1 and 10"},
			{map[string]any{"tier": "gold"}, "tier must be standard or premium"},
			{map[string]any{"tier": "premium", "replicas": int64(1)}, "premium websites run at least 2 replicas"},
		} {
			spec := good()
			for k, v := range tc.spec {
				spec[k] = v
			}
			_, err := ws("v2", "web-example").Create(ctx, site("v2", "invalid", spec), metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("spec %v: want Invalid with %q, got %v", tc.spec, tc.want, err)
			}
		}
		_, dyn, warns := clientsFor(t, env.Config)
		spec := good()
		spec["image"] = "docker.io/library/nginx"
		_, err := dyn.Resource(schema.GroupVersionResource{Group: "web.example.com", Version: "v2", Resource: "websites"}).Namespace("web-example").
			Create(ctx, site("v2", "warned", spec), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a Website failing only the warn rule: %v", err)
		}
		if !strings.Contains(warns.all(), "images should come from registry.example.com") {
			t.Errorf("warnings %q lack the warn rule's message", warns.all())
		}
	})

	t.Run("mutation", func(t *testing.T) {
		w := site("v2", "mutated", good())
		w.SetAnnotations(map[string]string{"app.kubernetes.io/managed-by": "helm"})
		got, err := ws("v2", "web-example").Create(ctx, w, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tier, _, _ := unstructured.NestedString(got.Object, "spec", "tier"); tier != "standard" {
			t.Errorf("spec.tier = %q, want the default standard", tier)
		}
		if m := got.GetAnnotations()["app.kubernetes.io/managed-by"]; m != "orkestra" {
			t.Errorf("managed-by = %q, want the override orkestra", m)
		}
	})

	t.Run("deletion protection of the CRD and labelled Websites", func(t *testing.T) {
		w := site("v2", "protected", good())
		w.SetLabels(protected)
		if _, err := ws("v2", "web-example").Create(ctx, w, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := ws("v2", "web-example").Delete(ctx, "protected", metav1.DeleteOptions{}); !isForbidden(err) {
			t.Errorf("delete of a labelled Website: want Forbidden, got %v", err)
		}
		crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
		if err := crds.Delete(ctx, "websites.web.example.com", metav1.DeleteOptions{}); !isForbidden(err) {
			t.Errorf("delete of the Website CRD: want Forbidden, got %v", err)
		}
	})

	t.Run("conversion between v1, v2 and v3", func(t *testing.T) {
		v1 := site("v1", "legacy", map[string]any{"image": "registry.example.com/old:1", "domain": "old.example.com", "size": int64(3)})
		if _, err := ws("v1", "web-example").Create(ctx, v1, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create at v1: %v\n%s", err, ex.g.proc.Logs())
		}
		for _, c := range []struct {
			version string
			path    []string
			want    any
		}{
			{"v2", []string{"spec", "replicas"}, int64(3)},
			{"v2", []string{"spec", "domain"}, "old.example.com"},
			{"v3", []string{"spec", "hostname"}, "old.example.com"},
			{"v3", []string{"spec", "replicas"}, int64(3)},
			{"v1", []string{"spec", "size"}, int64(3)},
			{"v1", []string{"spec", "domain"}, "old.example.com"},
		} {
			u, err := ws(c.version, "web-example").Get(ctx, "legacy", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get at %s: %v", c.version, err)
			}
			if got, _, _ := unstructured.NestedFieldNoCopy(u.Object, c.path...); got != c.want {
				t.Errorf("at %s, %s = %#v, want %#v", c.version, strings.Join(c.path, "."), got, c.want)
			}
		}
	})

	t.Run("notifications to the platform team", func(t *testing.T) {
		ex.exerciseNotify(t, "orkestra-system/orkestra-runtime", map[string]any{
			"katalogName": "website", "crName": "shop", "crNamespace": "web-example",
			"gvk": "web.example.com/v2/Website", "condKey": "Ready=False", "teamName": "platform",
			"subject": "shop is not ready", "severity": "warning",
		}, "platform", "object: web-example/shop (web.example.com/v2/Website)")
	})
}

// exerciseNotify posts event as caller (namespace/serviceaccount, the
// example's allowed caller) and expects the team's Slack webhook (hook) to
// receive text; another ServiceAccount is refused. The examples' SMTP
// servers are not reachable here, so only the Slack delivery is checked.
func (ex *example) exerciseNotify(t *testing.T, caller string, event map[string]any, hook, text string) {
	t.Helper()
	ns, sa, _ := strings.Cut(caller, "/")
	client := webhookClient(t, gatewaySecret(t).Data["ca.crt"])
	post := func(token string) (int, string) {
		body, _ := json.Marshal(event)
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/notify", ex.g.notifyPort), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(saToken(t, ns, "not-"+sa)); code != http.StatusForbidden {
		t.Errorf("a ServiceAccount outside allowedCallers: %d %s, want 403", code, body)
	}
	if code, body := post(saToken(t, ns, sa)); code != http.StatusAccepted || !strings.Contains(body, `"queued"`) {
		t.Fatalf("the allowed caller: %d %s, want 202 queued", code, body)
	}
	m, err := ex.slack.wait(hook, 20*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, ex.g.proc.Logs())
	}
	if !strings.Contains(m, text) {
		t.Errorf("Slack message %q lacks %q", m, text)
	}
}

// slackStandIn records what Slack incoming webhooks (POST /hooks/NAME)
// receive, per NAME.
type slackStandIn struct {
	url string
	mu  sync.Mutex
	got map[string][]string
}

func newSlackStandIn(t *testing.T) *slackStandIn {
	s := &slackStandIn{got: map[string][]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook, ok := strings.CutPrefix(r.URL.Path, "/hooks/")
		var p struct{ Text string }
		if !ok || r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&p) != nil || p.Text == "" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got[hook] = append(s.got[hook], p.Text)
		s.mu.Unlock()
		fmt.Fprint(w, "ok")
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.url = "http://" + l.Addr().String()
	return s
}

// wait returns the first message posted to hook.
func (s *slackStandIn) wait(hook string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		msgs := s.got[hook]
		s.mu.Unlock()
		if len(msgs) > 0 {
			return msgs[0], nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no Slack message on /hooks/%s after %s", hook, timeout)
}
