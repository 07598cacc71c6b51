package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAuditMode: rules in audit mode (action: audit, enforcement: audit)
// let the object in through the real API server, without a warning; the
// gateway logs one line per would-be denial and counts it per rule, the
// counters existing at zero from start-up; enforced rules next to them
// still deny.
func TestAuditMode(t *testing.T) {
	ctx := context.Background()
	const ns = "audit-mode"
	ensureNamespace(t, ns, nil)
	g := startGateway(t, gatewayOptions{Katalog: readTestdata(t, "auditmode-katalog.yaml"), Args: []string{"--sync-interval", "1s"}})
	t.Cleanup(func() { removeExampleRegistrations(t, "audit-mode") })
	cms := env.Clientset.CoreV1().ConfigMaps(ns)
	t.Cleanup(func() {
		_ = cms.DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = env.Clientset.CoreV1().Secrets(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	})
	eventually(t, 20*time.Second, "rules active", func() error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe", Labels: map[string]string{"team": "a"}}, Data: map[string]string{"forbidden": "x"}}
		_, err := cms.Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsInvalid(err) {
			return nil
		}
		return errorf("a ConfigMap with the forbidden key: %v", err)
	})

	audited := func(rule string) float64 {
		return metric(t, g, `orkestra_gateway_admission_audit_total{rule="`+rule+`"}`)
	}
	// Created at zero at start-up, one per audited rule, nothing else.
	for _, rule := range []string{"configmap/team-label", "secret/0", "secret/1"} {
		if v := audited(rule); v != 0 {
			t.Errorf("%s = %v at start-up, want 0", rule, v)
		}
	}
	if _, body := g.probe("/metrics"); strings.Contains(body, `orkestra_gateway_admission_audit_total{rule="configmap/no-forbidden"}`) {
		t.Error("an enforced rule has an audit series")
	}

	t.Run("action: audit admits, logs and counts", func(t *testing.T) {
		client, _, w := clientsFor(t, env.Config)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "no-team"}, Data: map[string]string{"k": "v"}}
		if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("a ConfigMap failing only an audited rule: %v", err)
		}
		if w.all() != "" {
			t.Errorf("warnings %q: an audited rule never warns", w.all())
		}
		if err := g.proc.WaitForLog(`"rule":"configmap/team-label"`, 10*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, g.proc.Logs())
		}
		var line string
		for _, l := range strings.Split(g.proc.Logs(), "\n") {
			if strings.Contains(l, `"rule":"configmap/team-label"`) {
				line = l
			}
		}
		for _, want := range []string{`"msg":"admission audit: rule would deny"`, `"object":"audit-mode/no-team"`, `"operation":"CREATE"`,
			`"message":"metadata.labels.team: every ConfigMap names its team"`} {
			if !strings.Contains(line, want) {
				t.Errorf("audit log line lacks %s:\n%s", want, line)
			}
		}
		if v := audited("configmap/team-label"); v != 1 {
			t.Errorf("configmap/team-label = %v, want 1", v)
		}
	})

	t.Run("enforced rules still deny", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "forbidden"}, Data: map[string]string{"forbidden": "x"}}
		_, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "the forbidden key is refused") {
			t.Fatalf("want the enforced rule's denial, got %v", err)
		}
		// The audited rule failed too (no team label): counted, not shown.
		if strings.Contains(err.Error(), "team") {
			t.Errorf("the denial names the audited rule: %v", err)
		}
		if v := audited("configmap/team-label"); v != 2 {
			t.Errorf("configmap/team-label = %v, want 2", v)
		}
	})

	t.Run("enforcement: audit silences a whole entry", func(t *testing.T) {
		client, _, w := clientsFor(t, env.Config)
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Type: corev1.SecretTypeOpaque, StringData: map[string]string{"k": "v"}}
		if _, err := client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatalf("a Secret failing the audited entry's rules: %v", err)
		}
		if w.all() != "" {
			t.Errorf("warnings %q: an audited warn rule never warns", w.all())
		}
		if err := g.proc.WaitForLog(`"msg":"admission audit: rule would warn"`, 10*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, g.proc.Logs())
		}
		if a, b := audited("secret/0"), audited("secret/1"); a != 1 || b != 1 {
			t.Errorf("secret/0 = %v, secret/1 = %v, want 1 and 1", a, b)
		}
	})
}
