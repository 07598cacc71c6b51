package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// auditReportList is the part of `ork audit -o json|yaml` checked.
type auditReportList struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Summary struct {
			Pass, Fail, Warn, Error, Skip int
		} `json:"summary"`
		Results []struct {
			Source, Policy, Rule, Result, Message string
			Resources                             []struct {
				APIVersion, Kind, Namespace, Name, UID string
			}
			Properties map[string]string
		} `json:"results"`
	} `json:"items"`
}

// TestAudit runs `ork audit` against the real API server with more than
// 500 ConfigMaps listed 50 at a time: every object is evaluated, each
// rule's findings are reported (deny, warn, audit mode, CEL with
// namespaceObject), the gateway's and kube-system's objects are left out,
// -n narrows, and nothing is written.
func TestAudit(t *testing.T) {
	ctx := context.Background()
	bin := toolchainBinary(t)
	dir := t.TempDir()
	katalog := filepath.Join(dir, "katalog.yaml")
	writeFile(t, katalog, readTestdata(t, "audit-katalog.yaml"))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}

	const big, other, n = "audit-big", "audit-other", 520
	for _, ns := range []string{big, other, "kube-system"} {
		ensureNamespace(t, ns, nil)
	}
	cms := env.Clientset.CoreV1().ConfigMaps(big)
	for i := range n {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%03d", i),
			Labels: map[string]string{"team": big, "tier": "gold"}}, Data: map[string]string{"k": "v"}}
		switch {
		case i < 10:
			delete(cm.Labels, "team") // team-label: denied
		case i < 15:
			cm.Data["mode"] = "debug" // no-debug: warned
		case i < 35:
			cm.Labels["tier"] = "bronze" // tier: in audit mode
		case i < 38:
			cm.Data["password"] = "hunter2" // no-password (CEL): denied
		}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{big, other} {
			_ = env.Clientset.CoreV1().ConfigMaps(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		}
		_ = env.Clientset.CoreV1().ConfigMaps("kube-system").Delete(context.Background(), "audit-unlabelled", metav1.DeleteOptions{})
		for _, name := range []string{"audit-e2e-owned", "audit-e2e-orphan"} {
			_ = env.Clientset.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	for i := range 3 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unlabelled-%d", i)}}
		if _, err := env.Clientset.CoreV1().ConfigMaps(other).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// Never subject to the rules: the gateway would not see it.
	if _, err := env.Clientset.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audit-unlabelled"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, cr := range []*rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "audit-e2e-owned", Labels: map[string]string{"owner": "platform"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "audit-e2e-orphan"}},
	} {
		if _, err := env.Clientset.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	versions := func() map[string]string {
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, cm := range list.Items {
			out[cm.Name] = cm.ResourceVersion
		}
		return out
	}
	before := versions()

	audit := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"audit", "-f", katalog, "--kubeconfig", kubeconfig}, args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}

	t.Run("every namespace, 50 objects per list call", func(t *testing.T) {
		code, out, errOut := audit("-A", "--chunk-size", "50", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		var doc auditReportList
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if doc.APIVersion != "v1" || doc.Kind != "List" {
			t.Errorf("document %s %s, want a v1 List", doc.APIVersion, doc.Kind)
		}
		seen := map[string]map[string]bool{} // rule/result -> objects
		reports := map[string]int{}
		var bigSummary, cluster = -1, -1
		for i, item := range doc.Items {
			reports[item.Kind+" "+item.Metadata.Namespace]++
			if item.APIVersion != "wgpolicyk8s.io/v1alpha2" || item.Metadata.Name != "ork-audit-audit-e2e" {
				t.Errorf("report %s %s %s", item.APIVersion, item.Kind, item.Metadata.Name)
			}
			switch {
			case item.Kind == "PolicyReport" && item.Metadata.Namespace == big:
				bigSummary = i
			case item.Kind == "ClusterPolicyReport":
				cluster = i
			}
			for _, r := range item.Results {
				if r.Source != "orkestra-gateway" || r.Policy != "audit-e2e" {
					t.Errorf("result source %q policy %q", r.Source, r.Policy)
				}
				key := r.Rule + " " + r.Result
				if seen[key] == nil {
					seen[key] = map[string]bool{}
				}
				for _, res := range r.Resources {
					seen[key][res.Namespace+"/"+res.Name] = true
				}
			}
		}
		if reports["PolicyReport kube-system"] > 0 || reports["PolicyReport orkestra-system"] > 0 {
			t.Errorf("reports for namespaces the rules never see: %v", reports)
		}
		if bigSummary < 0 || cluster < 0 || reports["PolicyReport "+other] != 1 {
			t.Fatalf("reports %v", reports)
		}
		// Every one of the 520 objects is evaluated by every rule.
		for _, rule := range []string{"team-label", "no-debug", "tier", "no-password", "own-namespace"} {
			objs := map[string]bool{}
			for key, set := range seen {
				if strings.HasPrefix(key, "configmap/"+rule+" ") {
					for o := range set {
						if strings.HasPrefix(o, big+"/") {
							objs[o] = true
						}
					}
				}
			}
			if len(objs) != n {
				t.Errorf("rule %s: %d objects of %s in the report, want %d (pagination)", rule, len(objs), big, n)
			}
		}
		count := func(key, ns string) int {
			c := 0
			for o := range seen[key] {
				if strings.HasPrefix(o, ns+"/") {
					c++
				}
			}
			return c
		}
		for key, want := range map[string]int{
			"configmap/team-label fail": 10, "configmap/no-debug warn": 5, "configmap/tier fail": 20,
			"configmap/no-password fail": 3, "configmap/own-namespace pass": n, "configmap/own-namespace error": 0,
		} {
			if got := count(key, big); got != want {
				t.Errorf("%s in %s: %d objects, want %d", key, big, got, want)
			}
		}
		if count("configmap/team-label fail", other) != 3 {
			t.Errorf("team-label in %s: %d", other, count("configmap/team-label fail", other))
		}
		s := doc.Items[bigSummary].Summary
		if s.Fail != 33 || s.Warn != 5 || s.Error != 0 || s.Pass != 5*n-38 {
			t.Errorf("summary of %s %+v, want fail 33 warn 5 pass %d", big, s, 5*n-38)
		}
		for _, r := range doc.Items[bigSummary].Results {
			if r.Rule == "configmap/tier" && r.Result == "fail" {
				if r.Properties["enforcement"] != "audit" || r.Properties["wouldAction"] != "deny" || r.Properties["operations"] != "CREATE,UPDATE" ||
					!strings.Contains(r.Message, `metadata.labels.tier: tier is gold or silver`) {
					t.Errorf("audit-mode result %+v", r)
				}
				break
			}
		}
		if !seen["clusterrole/owner warn"]["/audit-e2e-orphan"] || !seen["clusterrole/owner pass"]["/audit-e2e-owned"] || seen["clusterrole/owner warn"]["/audit-e2e-owned"] {
			t.Errorf("cluster-scoped results: warn %v", seen["clusterrole/owner warn"]["/audit-e2e-orphan"])
		}
	})

	t.Run("one namespace, text", func(t *testing.T) {
		code, out, errOut := audit("-n", other, "--chunk-size", "2")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{
			"configmap: 3 configmaps listed, 3 subject to the rules, evaluated as CREATE and UPDATE",
			"configmap/team-label (deny): 3 objects would be denied",
			"ConfigMap " + other + "/unlabelled-0 (CREATE, UPDATE): metadata.labels.team: every ConfigMap names its team",
			// No tier label: in holds for an absent field (require it with exists).
			"configmap/tier (audit, would deny): no object",
			"clusterrole/owner (warn):",
			"ClusterRole audit-e2e-orphan (CREATE, UPDATE): metadata.labels.owner: every ClusterRole names its owner",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, big+"/") {
			t.Errorf("-n %s reports objects of %s", other, big)
		}
	})

	t.Run("yaml", func(t *testing.T) {
		code, out, errOut := audit("-n", other, "-o", "yaml")
		var doc auditReportList
		if err := yaml.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Items) != 2 {
			t.Fatalf("exit %d, %v, %d reports\n%s%s", code, err, len(doc.Items), out, errOut)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"-A", "-n", big},
			{"--context", "nowhere"},
			{"--chunk-size", "0"},
			{"-o", "table"},
		} {
			if code, _, errOut := audit(args...); code != 2 {
				t.Errorf("ork audit %v: exit %d, want 2\n%s", args, code, errOut)
			}
		}
	})

	after := versions()
	if len(after) != len(before) {
		t.Fatalf("%d ConfigMaps before, %d after", len(before), len(after))
	}
	for name, rv := range before {
		if after[name] != rv {
			t.Errorf("ConfigMap %s changed during the audit (resourceVersion %s -> %s)", name, rv, after[name])
		}
	}
}
