package bundle

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	sigsyaml "sigs.k8s.io/yaml"
)

const header = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\n"

// writeKatalog writes a Katalog (and extra files) into a new directory and
// returns its path.
func writeKatalog(t testing.TB, text string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "katalog.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func bundleOf(t testing.TB, text string, opts Options) *Bundle {
	t.Helper()
	if opts.Image == "" {
		opts.Image = goldenImage
	}
	b, err := Generate(load(t, writeKatalog(t, text, nil)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decode strictly decodes the object of the given kind: every field the
// bundle writes is a real field of the API type.
func decode[T any](t testing.TB, b *Bundle, kind string) *T {
	t.Helper()
	for _, o := range b.Objects {
		if o.Kind == kind {
			var v T
			if err := sigsyaml.UnmarshalStrict(o.YAML, &v); err != nil {
				t.Fatalf("%s: %v\n%s", kind, err, o.YAML)
			}
			return &v
		}
	}
	t.Fatalf("the bundle has no %s", kind)
	return nil
}

func TestObjects(t *testing.T) {
	b := bundleOf(t, header+`metadata:
  name: guard
security:
  deletionProtection: {}
`, Options{})
	var kinds, files []string
	for _, o := range b.Objects {
		kinds = append(kinds, o.Kind)
		files = append(files, o.File)
	}
	wantKinds := []string{"Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
	if !slices.Equal(kinds, wantKinds) {
		t.Fatalf("kinds = %v, want %v", kinds, wantKinds)
	}
	if files[0] != "01-namespace.yaml" || files[9] != "10-poddisruptionbudget.yaml" || files[10] != "11-networkpolicy.yaml" {
		t.Errorf("files = %v", files)
	}

	ns := decode[corev1.Namespace](t, b, "Namespace")
	if ns.Name != DefaultNamespace || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s labels %v", ns.Name, ns.Labels)
	}
	sa := decode[corev1.ServiceAccount](t, b, "ServiceAccount")
	if sa.Name != "orkestra-gateway" || sa.Namespace != DefaultNamespace || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account %s/%s automount %v: want orkestra-system/orkestra-gateway, false", sa.Namespace, sa.Name, sa.AutomountServiceAccountToken)
	}
	crb := decode[rbacv1.ClusterRoleBinding](t, b, "ClusterRoleBinding")
	rb := decode[rbacv1.RoleBinding](t, b, "RoleBinding")
	for _, s := range [][]rbacv1.Subject{crb.Subjects, rb.Subjects} {
		if len(s) != 1 || s[0].Kind != "ServiceAccount" || s[0].Name != sa.Name || s[0].Namespace != sa.Namespace {
			t.Errorf("binding subjects %+v: want only the ServiceAccount", s)
		}
	}
	if crb.RoleRef.Name != "orkestra-gateway-guard" || crb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != "orkestra-gateway" || rb.RoleRef.Kind != "Role" {
		t.Errorf("roleRefs %+v %+v", crb.RoleRef, rb.RoleRef)
	}

	d := decode[appsv1.Deployment](t, b, "Deployment")
	pod := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want the default 2", *d.Spec.Replicas)
	}
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod labels %v do not match the selector %v", d.Spec.Template.Labels, sel)
		}
	}
	if pod.ServiceAccountName != sa.Name || pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Errorf("pod runs as %q with automount %v", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	psc := pod.SecurityContext
	if !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 || *psc.RunAsGroup != 65532 || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if *pod.TerminationGracePeriodSeconds <= drainTimeoutSeconds+preStopSeconds {
		t.Errorf("grace period %d does not cover preStop %d + drain %d", *pod.TerminationGracePeriodSeconds, preStopSeconds, drainTimeoutSeconds)
	}
	tsc := pod.TopologySpreadConstraints
	if len(tsc) != 1 || tsc[0].TopologyKey != "kubernetes.io/hostname" || tsc[0].MaxSkew != 1 || tsc[0].WhenUnsatisfiable != corev1.ScheduleAnyway {
		t.Errorf("topology spread %+v", tsc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != goldenImage || !slices.Equal(c.Command, []string{"/ork"}) || !slices.Equal(c.Args, []string{"gateway", "-f", "/etc/orkestra/katalog.yaml"}) {
		t.Errorf("container runs %s %v %v", c.Image, c.Command, c.Args)
	}
	sc := c.SecurityContext
	if *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container security context %+v", sc)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["webhook"] != 8443 || ports["notify"] != 8444 || ports["probes"] != 8080 {
		t.Errorf("ports %v", ports)
	}
	if c.LivenessProbe.HTTPGet.Path != "/livez" || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.StrVal != "probes" {
		t.Errorf("probes %+v %+v", c.LivenessProbe.HTTPGet, c.ReadinessProbe.HTTPGet)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" || env["POD_IP"] != "status.podIP" {
		t.Errorf("downward API env %v", env)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || !c.Resources.Limits.Cpu().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests, a memory limit and no cpu limit", c.Resources)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/orkestra" || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("mounts %+v", c.VolumeMounts)
	}
	if rs := d.Spec.Strategy.RollingUpdate; rs == nil || rs.MaxUnavailable.IntValue() != 0 || rs.MaxSurge.IntValue() != 1 {
		t.Errorf("rolling update %+v: want a surge pod and no unavailable one", rs)
	}

	svc := decode[corev1.Service](t, b, "Service")
	if !maps.Equal(svc.Spec.Selector, sel) {
		t.Errorf("service selector %v, want %v", svc.Spec.Selector, sel)
	}
	sp := map[string]string{}
	for _, p := range svc.Spec.Ports {
		sp[p.Name] = strconv.Itoa(int(p.Port)) + "->" + p.TargetPort.String()
	}
	if sp["webhook"] != "443->webhook" || sp["notify"] != "8444->notify" || len(sp) != 2 {
		t.Errorf("service ports %v", sp)
	}
	pdb := decode[policyv1.PodDisruptionBudget](t, b, "PodDisruptionBudget")
	if pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil || !maps.Equal(pdb.Spec.Selector.MatchLabels, sel) {
		t.Errorf("pdb %+v", pdb.Spec)
	}
	np := decode[networkingv1.NetworkPolicy](t, b, "NetworkPolicy")
	if !maps.Equal(np.Spec.PodSelector.MatchLabels, sel) || !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("network policy selects %v, types %v", np.Spec.PodSelector.MatchLabels, np.Spec.PolicyTypes)
	}
	if got := ingressRules(np); !slices.Equal(got, []string{"webhook from anywhere", "probes from [all namespaces]"}) {
		t.Errorf("ingress rules %q (no notification block: no rule for notify)", got)
	}
}

// ingressRules describes a NetworkPolicy's rules as "port from peers".
func ingressRules(np *networkingv1.NetworkPolicy) []string {
	var out []string
	for _, r := range np.Spec.Ingress {
		var ports, from []string
		for _, p := range r.Ports {
			ports = append(ports, p.Port.String())
		}
		for _, f := range r.From {
			switch {
			case f.NamespaceSelector == nil || f.PodSelector != nil || f.IPBlock != nil:
				from = append(from, "other")
			case len(f.NamespaceSelector.MatchLabels) == 0 && len(f.NamespaceSelector.MatchExpressions) == 0:
				from = append(from, "all namespaces")
			default:
				for _, e := range f.NamespaceSelector.MatchExpressions {
					from = append(from, fmt.Sprintf("%s %s %v", e.Key, e.Operator, e.Values))
				}
			}
		}
		peers := "anywhere"
		if len(from) > 0 {
			peers = fmt.Sprint(from)
		}
		out = append(out, strings.Join(ports, ",")+" from "+peers)
	}
	return out
}

// GOMEMLIMIT is 90% of the container's memory limit, in MiB.
func TestGoMemLimit(t *testing.T) {
	b := bundleOf(t, header+"metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}\n", Options{})
	c := decode[appsv1.Deployment](t, b, "Deployment").Spec.Template.Spec.Containers[0]
	var got string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			got = e.Value
		}
	}
	limit := c.Resources.Limits.Memory().Value()
	if got != fmt.Sprintf("%dMiB", limit*9/10>>20) || got != "115MiB" {
		t.Errorf("GOMEMLIMIT %q for a %d-byte limit, want 90%% of it in MiB (115MiB)", got, limit)
	}
	for q, want := range map[string]string{"128Mi": "115MiB", "256Mi": "230MiB", "1Gi": "921MiB", "100M": "85MiB"} {
		if got := goMemLimit(resource.MustParse(q)); got != want {
			t.Errorf("goMemLimit(%s) = %s, want %s", q, got, want)
		}
	}
}

// /notify admits the namespaces of the allowed callers only.
func TestNetworkPolicyNotify(t *testing.T) {
	b := bundleOf(t, header+`metadata:
  name: notify
notification:
  allowedCallers: [team-b/runner, orkestra-system/orkestra-runtime, team-b/other]
  slack:
    webhookURLFrom: {env: SLACK_URL}
  teams:
    ops: {}
`, Options{})
	np := decode[networkingv1.NetworkPolicy](t, b, "NetworkPolicy")
	want := []string{"webhook from anywhere", "probes from [all namespaces]", "notify from [kubernetes.io/metadata.name In [orkestra-system team-b]]"}
	if got := ingressRules(np); !slices.Equal(got, want) {
		t.Errorf("ingress rules %q, want %q", got, want)
	}
}

// The ConfigMap holds the Katalog byte for byte, whatever its layout, and
// the pod template's checksum follows its content.
func TestConfigMapVerbatim(t *testing.T) {
	for name, text := range map[string]string{
		"plain":           header + "metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}\n",
		"no final break":  header + "metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}",
		"trailing spaces": header + "metadata:   \n  name: guard  # the name   \nsecurity:\n  deletionProtection: {}\n\n\n",
		"crlf":            strings.ReplaceAll(header+"metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}\n", "\n", "\r\n"),
		"tabs and utf-8":  "# \tcommentaire: protège tout \u2713\n" + header + "metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}\n",
		"leading spaces":  "  " + strings.ReplaceAll(header+"metadata:\n  name: guard\n", "\n", "\n  "),
	} {
		t.Run(name, func(t *testing.T) {
			b := bundleOf(t, text, Options{})
			cm := decode[corev1.ConfigMap](t, b, "ConfigMap")
			if got := cm.Data[KatalogKey]; got != text {
				t.Errorf("ConfigMap holds %q, want %q", got, text)
			}
			d := decode[appsv1.Deployment](t, b, "Deployment")
			sum := d.Spec.Template.Annotations[ChecksumAnnotation]
			if len(sum) != 64 {
				t.Fatalf("checksum annotation %q", sum)
			}
			other := decode[appsv1.Deployment](t, bundleOf(t, text+"\n# changed\n", Options{}), "Deployment")
			if other.Spec.Template.Annotations[ChecksumAnnotation] == sum {
				t.Error("a changed Katalog keeps the same checksum: applying it would not roll the pods")
			}
		})
	}
}

// Values YAML 1.1 reads as booleans or numbers stay strings for kubectl.
func TestYAML11Strings(t *testing.T) {
	for _, name := range []string{"yes", "no", "on", "off", "y", "n", "true", "null", "123", "1e3"} {
		text := header + "metadata:\n  name: \"" + name + "\"\nsecurity:\n  deletionProtection: {}\n"
		src, res, err := parse(filepath.Join(t.TempDir(), "katalog.yaml"), []byte(text))
		if err != nil || src == nil {
			if res != nil && res.Errors() > 0 {
				continue // not a valid Katalog name; nothing to render
			}
			t.Fatalf("%s: %v", name, err)
		}
		b, err := Generate(src, Options{Image: goldenImage, Namespace: "ns-" + name})
		if err != nil {
			t.Fatalf("name %q: %v", name, err)
		}
		d := decode[appsv1.Deployment](t, b, "Deployment")
		if got := d.Labels[instanceLabel]; got != name {
			t.Errorf("instance label reads back as %q, want %q", got, name)
		}
	}
}

func TestOptions(t *testing.T) {
	withNS := header + "metadata:\n  name: guard\ngateway:\n  namespace: security\n  replicas: 3\n  serviceName: guard-gw\nsecurity:\n  deletionProtection: {}\n"
	plain := header + "metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}\n"

	for _, tc := range []struct {
		name, text string
		opts       Options
		ns         string
		replicas   int32
	}{
		{"defaults", plain, Options{}, DefaultNamespace, 2},
		{"flag namespace", plain, Options{Namespace: "guards"}, "guards", 2},
		{"Katalog namespace and replicas", withNS, Options{}, "security", 3},
		{"same namespace twice", withNS, Options{Namespace: "security"}, "security", 3},
		{"flag replicas", withNS, Options{Replicas: 1}, "security", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bundleOf(t, tc.text, tc.opts)
			for _, o := range b.Objects {
				want := tc.ns
				if o.Kind == "Namespace" || o.Kind == "ClusterRole" || o.Kind == "ClusterRoleBinding" {
					want = ""
				}
				if o.Namespace != want {
					t.Errorf("%s %s in namespace %q, want %q", o.Kind, o.Name, o.Namespace, want)
				}
			}
			d := decode[appsv1.Deployment](t, b, "Deployment")
			if *d.Spec.Replicas != tc.replicas {
				t.Errorf("replicas %d, want %d", *d.Spec.Replicas, tc.replicas)
			}
			if d.Namespace != tc.ns || decode[corev1.Namespace](t, b, "Namespace").Name != tc.ns {
				t.Errorf("deployment in %q", d.Namespace)
			}
			crb := decode[rbacv1.ClusterRoleBinding](t, b, "ClusterRoleBinding")
			if crb.Subjects[0].Namespace != tc.ns {
				t.Errorf("cluster role binding names the ServiceAccount in %q", crb.Subjects[0].Namespace)
			}
		})
	}

	for _, tc := range []struct {
		name, text string
		opts       Options
		want       string
	}{
		{"conflicting namespace", withNS, Options{Namespace: "other", Image: goldenImage}, `namespace "other" contradicts gateway.namespace "security"`},
		{"bad namespace", plain, Options{Namespace: "Not_DNS", Image: goldenImage}, "namespace \"Not_DNS\": a lowercase RFC 1123 label"},
		{"no image", plain, Options{}, "the image reference is empty"},
		{"bad image", plain, Options{Image: "Ghcr.io/Org/Gateway:v1"}, `repository path component "Org"`},
		{"negative replicas", plain, Options{Image: goldenImage, Replicas: -1}, "replicas -1: must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(load(t, writeKatalog(t, tc.text, nil)), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Generate(nil, Options{Image: goldenImage}); err == nil {
		t.Error("Generate(nil) gave no error")
	}
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

func widgetKatalog(crdFile string) string {
	return header + `metadata:
  name: widgets
security:
  deletionProtection: {}
spec:
  crds:
    widget:
      crdFile: ` + crdFile + `
      deletionProtection: {protectCRD: true}
`
}

// crdFiles travel in the ConfigMap and are mounted at the path the Katalog
// names, relative to katalog.yaml.
func TestCRDFiles(t *testing.T) {
	path := writeKatalog(t, widgetKatalog("./crds/../crds/widget.yaml"), map[string]string{"crds/widget.yaml": widgetCRD})
	src := load(t, path)
	if len(src.Files) != 1 || src.Files[0].Path != "crds/widget.yaml" {
		t.Fatalf("files %+v", src.Files)
	}
	b, err := Generate(src, Options{Image: goldenImage})
	if err != nil {
		t.Fatal(err)
	}
	cm := decode[corev1.ConfigMap](t, b, "ConfigMap")
	d := decode[appsv1.Deployment](t, b, "Deployment")
	items := d.Spec.Template.Spec.Volumes[0].ConfigMap.Items
	byPath := map[string]string{}
	for _, it := range items {
		byPath[it.Path] = cm.Data[it.Key]
	}
	if byPath["katalog.yaml"] != widgetKatalog("./crds/../crds/widget.yaml") || byPath["crds/widget.yaml"] != widgetCRD || len(byPath) != 2 || len(cm.Data) != 2 {
		t.Errorf("mounted files %v from data keys %v", keys(byPath), keys(cm.Data))
	}

	// A crdFile the gateway could read but the bundle cannot mount next to
	// the Katalog is an error, though the Katalog passes the check pass.
	root := t.TempDir()
	for name, content := range map[string]string{"outside/widget.yaml": widgetCRD, "k/x": ""} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ crdFile, want string }{
		{filepath.Join(root, "outside", "widget.yaml"), "is an absolute path"},
		{"../outside/widget.yaml", "is outside the Katalog's directory"},
	} {
		p := filepath.Join(root, "k", "katalog.yaml")
		if err := os.WriteFile(p, []byte(widgetKatalog(tc.crdFile)), 0o644); err != nil {
			t.Fatal(err)
		}
		src, res, err := Load(p)
		if res == nil || res.Errors() > 0 {
			t.Fatalf("%s: the Katalog should pass the check pass: %+v", tc.crdFile, res)
		}
		if src != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("crdFile %s: error %v, want %q", tc.crdFile, err, tc.want)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// {env: NAME} sources become optional Secret references; file sources are
// named in a comment, not invented.
func TestSecretSources(t *testing.T) {
	text := header + `metadata:
  name: notify
notification:
  enabled: true
  slack:
    webhookURLFrom: {env: SLACK_URL}
    botTokenFrom: {file: /var/run/secrets/slack/token}
  email:
    smtp:
      host: smtp.example.com
      from: gw@example.com
      usernameFrom: {env: SMTP_USER}
      passwordFrom: {env: SMTP_PASSWORD}
  teams:
    ops:
      email: [ops@example.com]
      slackWebhookURLFrom: {env: SLACK_URL}
`
	b := bundleOf(t, text, Options{})
	c := decode[appsv1.Deployment](t, b, "Deployment").Spec.Template.Spec.Containers[0]
	var secret []string
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			if r.Name != "orkestra-gateway-secrets" || r.Key != e.Name || r.Optional == nil || !*r.Optional {
				t.Errorf("env %s reads %+v", e.Name, r)
			}
			secret = append(secret, e.Name)
		}
	}
	if want := []string{"SLACK_URL", "SMTP_PASSWORD", "SMTP_USER"}; !slices.Equal(secret, want) {
		t.Errorf("secret env %v, want %v", secret, want)
	}
	var dep []byte
	for _, o := range b.Objects {
		if o.Kind == "Deployment" {
			dep = o.YAML
		}
	}
	for _, want := range []string{"/var/run/secrets/slack/token", "--from-literal=SMTP_PASSWORD=..."} {
		if !bytes.Contains(dep, []byte(want)) {
			t.Errorf("the Deployment's comments do not mention %s", want)
		}
	}
}

func TestWriteDir(t *testing.T) {
	b := bundleOf(t, header+"metadata:\n  name: guard\n", Options{})
	dir := filepath.Join(t.TempDir(), "new", "dir")
	written, err := b.WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != len(b.Objects)+1 || filepath.Base(written[len(written)-1]) != KustomizationFile {
		t.Fatalf("wrote %v for %d objects, want one file each and the kustomization", written, len(b.Objects))
	}
	// The kustomization lists every object file, in apply order, and nothing else.
	var k struct {
		APIVersion, Kind string
		Resources        []string
	}
	kb, err := os.ReadFile(written[len(written)-1])
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.UnmarshalStrict(kb, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v\n%s", err, kb)
	}
	var files []string
	for _, o := range b.Objects {
		files = append(files, o.File)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || !slices.Equal(k.Resources, files) {
		t.Errorf("kustomization %+v, want the resources %v", k, files)
	}
	written = written[:len(written)-1]
	for i, p := range written {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, b.Objects[i].YAML) || filepath.Base(p) != b.Objects[i].File {
			t.Errorf("%s: %v", p, err)
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := b.WriteDir(file); err == nil {
		t.Error("writing into a regular file gave no error")
	}
	if _, err := b.WriteDir(""); err == nil {
		t.Error("writing into \"\" gave no error")
	}
}
