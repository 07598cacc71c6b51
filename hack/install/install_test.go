package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// katalogText protects labelled objects and restricted namespaces; the
// webhooks are registered by URL (the sandboxed gateway is not behind a
// Service here).
const katalogText = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: {{NAME}}
gateway:
  standalone: true
  namespace: {{NAMESPACE}}
  url: {{URL}}
security:
  deletionProtection:
    enabled: true
  namespaceProtection:
    enabled: true
    restrictedNamespaces: [{{NAMESPACE}}-restricted]
`

// install is one installation: its Katalog, ports and the objects applied.
type install struct {
	name, namespace string
	webhookPort     int
	probePort       int
	notifyPort      int
	src             *bundle.Source
	applied         []*unstructured.Unstructured
}

func newInstall(t *testing.T, name string) *install {
	t.Helper()
	in := &install{name: name, namespace: name + "-gw", webhookPort: freePort(t), probePort: freePort(t), notifyPort: freePort(t)}
	text := strings.NewReplacer("{{NAME}}", name, "{{NAMESPACE}}", in.namespace,
		"{{URL}}", fmt.Sprintf("https://127.0.0.1:%d", in.webhookPort)).Replace(katalogText)
	dir := t.TempDir()
	path := filepath.Join(dir, "katalog.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	src, res, err := bundle.Load(path)
	if err != nil || src == nil {
		t.Fatalf("bundle.Load: %v %+v", err, res)
	}
	in.src = src
	t.Cleanup(func() {
		ctx := context.Background()
		if err := registration.Remove(ctx, env.Dynamic, name); err != nil {
			t.Errorf("removing the registrations of %s: %v", name, err)
		}
		for _, o := range in.applied {
			if o.GetNamespace() == "" && o.GetKind() != "Namespace" {
				m := in.mapping(t, o)
				if err := env.Dynamic.Resource(m.Resource).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		}
	})
	return in
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// manifests splits a YAML stream into objects (empty documents skipped).
func manifests(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding the manifests: %v\n%s", err, stream)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

func (in *install) mapping(t *testing.T, o *unstructured.Unstructured) *meta.RESTMapping {
	t.Helper()
	rm := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(env.Clientset.Discovery()))
	gvk := o.GroupVersionKind()
	m, err := rm.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s: %v", gvk, err)
	}
	return m
}

// apply server-side applies every object, as kubectl apply --server-side
// does (dry run first, so a rejected object applies nothing), and checks
// the API server stored each.
func (in *install) apply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	one := func(o *unstructured.Unstructured, dryRun bool) {
		t.Helper()
		m := in.mapping(t, o)
		body, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		opts := metav1.PatchOptions{FieldManager: "ork-install-test"}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		ri := env.Dynamic.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			_, err = ri.Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
		} else {
			_, err = ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
		}
		if err != nil {
			t.Fatalf("server-side apply (dry run %v) of %s %s/%s: %v", dryRun, o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	// The API server refuses namespaced objects of a namespace that does
	// not exist yet, dry run or not: the Namespace first, as kubectl does
	// when it comes first in the stream.
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			one(o, false)
		}
	}
	for _, dryRun := range []bool{true, false} {
		for _, o := range objs {
			one(o, dryRun)
		}
	}
	in.applied = append(in.applied, objs...)
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := env.Clientset.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// find returns the one applied object of a kind.
func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			if found != nil {
				t.Fatalf("two objects of kind %s", kind)
			}
			found = o
		}
	}
	if found == nil {
		t.Fatalf("no %s among the manifests", kind)
	}
	return found
}

func deploymentOf(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, objs, "Deployment").Object, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// gateway is a replica run as the installed Deployment's pod would run.
type gateway struct {
	proc *testenv.Process
	in   *install
}

// run starts the gateway binary as the stored Deployment's pod: its
// ServiceAccount (with only the RBAC the installation applied), its
// arguments, and the Katalog read from the stored ConfigMap at the paths
// the Deployment mounts it. It waits until /readyz answers 200.
func (in *install) run(t *testing.T) *gateway {
	t.Helper()
	ctx := context.Background()
	dep, err := env.Clientset.AppsV1().Deployments(in.namespace).Get(ctx, "orkestra-gateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := dep.Spec.Template.Spec
	ctr := pod.Containers[0]
	var mount *corev1.VolumeMount
	for i := range ctr.VolumeMounts {
		if ctr.VolumeMounts[i].MountPath == bundle.KatalogDir {
			mount = &ctr.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("the Deployment mounts nothing at %s", bundle.KatalogDir)
	}
	dir := t.TempDir()
	for _, v := range pod.Volumes {
		if v.Name != mount.Name || v.ConfigMap == nil {
			continue
		}
		cm, err := env.Clientset.CoreV1().ConfigMaps(in.namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range v.ConfigMap.Items {
			if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(cm.Data[it.Key]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := slices.Clone(ctr.Args)
	i := slices.Index(args, "-f")
	if i < 0 || i+1 >= len(args) || !strings.HasPrefix(args[i+1], bundle.KatalogDir+"/") {
		t.Fatalf("container args %v do not read the Katalog from %s", args, bundle.KatalogDir)
	}
	args[i+1] = filepath.Join(dir, strings.TrimPrefix(args[i+1], bundle.KatalogDir+"/"))
	args = append(args, "--webhook-port", strconv.Itoa(in.webhookPort), "--probe-port", strconv.Itoa(in.probePort),
		"--notify-port", strconv.Itoa(in.notifyPort), "--sync-interval", "1s")
	p := env.StartInPod(t, testenv.PodOptions{
		Path:           testenv.BuildGateway(t),
		Args:           args,
		Namespace:      in.namespace,
		ServiceAccount: pod.ServiceAccountName,
	})
	g := &gateway{proc: p, in: in}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := g.probe("/readyz")
		if code == http.StatusOK {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready: /readyz %d %s\n%s", code, body, p.Logs())
		}
		select {
		case <-p.Done():
			t.Fatalf("the gateway exited:\n%s", p.Logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (g *gateway) probe(path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", g.in.probePort, path))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// protects checks what a user sees: deleting a labelled ConfigMap is
// refused by the gateway, an unlabelled one is deleted; then SIGTERM
// removes the registrations (the last replica).
func (g *gateway) protects(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ns := g.in.namespace + "-apps"
	ensureNamespace(t, ns)
	cms := env.Clientset.CoreV1().ConfigMaps(ns)
	mk := func(name string, labels map[string]string) {
		t.Helper()
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	mk("guarded", map[string]string{policy.ProtectionLabel: "true"})
	mk("plain", nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cms.Delete(ctx, "guarded", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsForbidden(err) {
			if !strings.Contains(err.Error(), "protect") {
				t.Errorf("denied, but not by the protection webhook: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleting a protected ConfigMap: want Forbidden, got %v\n%s", err, g.proc.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cms.Delete(ctx, "plain", metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting an unlabelled ConfigMap: %v", err)
	}
	if err := g.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := g.proc.Wait(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit %d, %v\n%s", code, err, g.proc.Logs())
	}
	if !strings.Contains(g.proc.Logs(), "registrations removed") {
		t.Errorf("the last replica did not remove its registrations:\n%s", g.proc.Logs())
	}
	if err := cms.Delete(ctx, "guarded", metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting the labelled ConfigMap after the gateway stopped: %v", err)
	}
}

// names lists kind/name of objects, sorted, for messages.
func names(objs []*unstructured.Unstructured) string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
