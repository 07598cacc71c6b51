package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

var (
	vapGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	mapGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicies"}
)

// namedKatalog is the admission test Katalog under another name, with an engine.
func namedKatalog(t *testing.T, name string, engine policy.Engine) string {
	t.Helper()
	text := withEngine(readTestdata(t, "admission-katalog.yaml"), engine)
	return strings.Replace(text, "metadata:\n  name: e2e\n", "metadata:\n  name: "+name+"\n", 1)
}

// katalogAdmissionObjects lists the Katalog's registered objects of each engine:
// webhook configurations and native policies.
func katalogAdmissionObjects(t *testing.T, katalog string) (webhooks, policies []string) {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: registration.KatalogLabel + "=" + katalog}
	webhooks = katalogRegistrations(t, katalog)
	for _, gvr := range []schema.GroupVersionResource{vapGVR, mapGVR} {
		l, err := env.Dynamic.Resource(gvr).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			policies = append(policies, o.GetName())
		}
	}
	return webhooks, policies
}

// deleter keeps deleting protected objects until stopped, and counts the
// calls and the objects it managed to delete.
type deleter struct {
	calls, deleted atomic.Int64
	stop           chan struct{}
	wg             sync.WaitGroup
	mu             sync.Mutex
	unexpected     []string
}

func startDeleter(t *testing.T, ns string, names []string) *deleter {
	d := &deleter{stop: make(chan struct{})}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		cms := env.Clientset.CoreV1().ConfigMaps(ns)
		for i := 0; ; i++ {
			select {
			case <-d.stop:
				return
			default:
			}
			err := cms.Delete(context.Background(), names[i%len(names)], metav1.DeleteOptions{})
			d.calls.Add(1)
			switch {
			case err == nil:
				d.deleted.Add(1)
			case !apierrors.IsForbidden(err) && !apierrors.IsNotFound(err):
				d.mu.Lock()
				d.unexpected = append(d.unexpected, err.Error())
				d.mu.Unlock()
			}
		}
	}()
	return d
}

func (d *deleter) halt() {
	close(d.stop)
	d.wg.Wait()
}

// TestEngineSwitch switches a running cluster from the webhook engine to the
// native one and back while protected objects are deleted continuously:
// none may be deleted, and each switch ends with only the new engine's
// objects registered.
func TestEngineSwitch(t *testing.T) {
	const katalog = "switch"
	ctx := context.Background()
	// Registrations other tests left with a killed gateway would answer first.
	removeOtherRegistrations(t, "")
	ensureWidgetCRD(t)
	ensureNamespace(t, "switch-ns", nil)
	t.Cleanup(func() { removeAndWait(t, katalog, gatewayNamespace) })
	run := fmt.Sprint(time.Now().UnixNano() % 1e6)
	var names []string
	for i := range 4 {
		n := fmt.Sprintf("switch-%s-%d", run, i)
		mustCreateCM(t, "switch-ns", n, protected)
		names = append(names, n)
	}
	// Each replica applies its registrations at start-up and then only
	// every hour: the replicas of the two engines never take turns.
	start := func(engine policy.Engine) *gateway {
		return startGateway(t, gatewayOptions{
			Katalog: namedKatalog(t, katalog, engine),
			Files:   map[string]string{"crds/widget.yaml": readTestdata(t, "widget-crd.yaml")},
			Args:    []string{"--sync-interval", "1h"},
		})
	}
	expect := func(step string, wantWebhooks, wantPolicies bool) {
		t.Helper()
		w, p := katalogAdmissionObjects(t, katalog)
		if (len(w) > 0) != wantWebhooks || (len(p) > 0) != wantPolicies {
			t.Fatalf("%s: webhook configurations %v, policies %v", step, w, p)
		}
	}

	a := start(policy.EngineWebhook)
	expect("webhook engine", true, false)
	waitProtection(t, "default")
	d := startDeleter(t, "switch-ns", names)
	defer func() {
		select {
		case <-d.stop:
		default:
			d.halt()
		}
	}()
	time.Sleep(300 * time.Millisecond)

	b := start(policy.EngineNative) // ready once its start-up sync switched
	if !strings.Contains(b.proc.Logs(), `"switchPending":0`) {
		t.Errorf("the switch to native did not complete at start-up:\n%s", b.proc.Logs())
	}
	expect("switched to native", false, true)
	a.proc.Kill()
	time.Sleep(300 * time.Millisecond)

	c := start(policy.EngineWebhook)
	expect("switched back to webhooks", true, false)
	b.proc.Kill()
	time.Sleep(300 * time.Millisecond)

	d.halt()
	t.Logf("%d protected deletes during webhook -> native -> webhook, %d deleted", d.calls.Load(), d.deleted.Load())
	if n := d.deleted.Load(); n != 0 {
		t.Errorf("%d protected objects were deleted during the switches", n)
	}
	if len(d.unexpected) > 0 {
		t.Errorf("unexpected answers: %v", d.unexpected)
	}
	if d.calls.Load() < 10 {
		t.Errorf("only %d deletes were attempted: the test proves nothing", d.calls.Load())
	}
	for _, n := range names {
		if _, err := env.Clientset.CoreV1().ConfigMaps("switch-ns").Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("protected %s: %v", n, err)
		}
	}
	_ = c
}

// TestNativeSurvivesKill: with engine native, every replica stopped without
// cleanup (SIGKILL) leaves protection and validation in force, in the API
// server.
func TestNativeSurvivesKill(t *testing.T) {
	const katalog = "kill-native"
	ctx := context.Background()
	// Registrations other tests left with a killed gateway would answer first.
	removeOtherRegistrations(t, "")
	ensureWidgetCRD(t)
	ensureNamespace(t, "native-other", nil)
	ensureNamespace(t, "team-a", nil)
	t.Cleanup(func() { removeAndWait(t, katalog, gatewayNamespace) })
	g := startGateway(t, gatewayOptions{
		Katalog: namedKatalog(t, katalog, policy.EngineNative),
		Files:   map[string]string{"crds/widget.yaml": readTestdata(t, "widget-crd.yaml")},
		Args:    []string{"--sync-interval", "1s"},
	})
	waitProtection(t, "default")
	name := "kill-native-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	mustCreateCM(t, "default", name, protected)
	// The API server compiles each policy as it loads it: wait until
	// validation enforces too, then take the gateway away.
	eventually(t, 30*time.Second, "validation in force", func() error {
		_, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, widget(name, map[string]any{"replicas": int64(99)}), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsInvalid(err) {
			return nil
		}
		return errorf("invalid widget: %v", err)
	})
	eventually(t, 30*time.Second, "mutation in force", func() error {
		got, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, widget(name, map[string]any{"replicas": int64(3)}), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		if got.GetAnnotations()["app.kubernetes.io/managed-by"] != "orkestra" {
			return errorf("not mutated yet: %v", got.GetAnnotations())
		}
		return nil
	})

	g.proc.Kill()
	if _, err := g.proc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, p := katalogAdmissionObjects(t, katalog); len(p) == 0 {
		t.Fatal("no policy left after SIGKILL")
	}

	err := env.Clientset.CoreV1().ConfigMaps("default").Delete(ctx, name, metav1.DeleteOptions{})
	if !isForbidden(err) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
		t.Fatalf("delete of a protected object with every replica down: want a policy's denial, got %v", err)
	}
	bad := widget(name, map[string]any{"replicas": int64(99)})
	_, err = env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "replicas must be between 1 and 10") {
		t.Fatalf("an invalid widget with every replica down: want the rule's denial, got %v", err)
	}
	ok := widget(name, map[string]any{"replicas": int64(3)})
	got, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, ok, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("a valid widget with every replica down: %v", err)
	}
	if got.GetAnnotations()["app.kubernetes.io/managed-by"] != "orkestra" {
		t.Errorf("mutation with every replica down: annotations %v", got.GetAnnotations())
	}
	_, err = env.Dynamic.Resource(widgets).Namespace("native-other").Create(ctx, ok, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !isForbidden(err) {
		t.Errorf("a widget in a namespace the Katalog does not allow, every replica down: want Forbidden, got %v", err)
	}
}

// TestEngineAuto: on an API server that serves both policy kinds, engine
// auto registers every feature natively, from discovery on each tick.
func TestEngineAuto(t *testing.T) {
	const katalog = "auto-e2e"
	// Registrations other tests left with a killed gateway would answer first.
	removeOtherRegistrations(t, "")
	ensureWidgetCRD(t)
	t.Cleanup(func() { removeAndWait(t, katalog, gatewayNamespace) })
	g := startGateway(t, gatewayOptions{
		Katalog: namedKatalog(t, katalog, policy.EngineAuto),
		Files:   map[string]string{"crds/widget.yaml": readTestdata(t, "widget-crd.yaml")},
		Args:    []string{"--sync-interval", "1s"},
	})
	if err := g.proc.WaitForLog(`"validatingAdmissionPolicy":true,"mutatingAdmissionPolicy":true`, 10*time.Second); err != nil {
		t.Errorf("no discovery answer logged: %v\n%s", err, g.proc.Logs())
	}
	w, p := katalogAdmissionObjects(t, katalog)
	if len(w) != 0 || len(p) != len(registration.NativeParts) {
		t.Errorf("engine auto registered webhook configurations %v and policies %v, want only the %d policies", w, p, len(registration.NativeParts))
	}
	waitProtection(t, "default")
}

// removeAndWait removes a Katalog's registrations of both engines and waits
// until the API server has dropped them: it loads (and unloads) webhook
// configurations and policies asynchronously, so a test right after would
// otherwise meet them still enforcing. The gateway's probes tell: nothing
// may answer one any more.
func removeAndWait(t *testing.T, katalog, namespace string) {
	t.Helper()
	ctx := context.Background()
	if err := registration.Remove(ctx, env.Dynamic, katalog); err != nil {
		t.Errorf("removing the registrations of %s: %v", katalog, err)
		return
	}
	prober, err := registration.NewSecretProber(env.Config, env.HTTPClient(), namespace, secretName)
	if err != nil {
		t.Fatal(err)
	}
	var probes []registration.Probe
	for _, part := range registration.NativeParts {
		pr := registration.Probe{Target: policy.ProbeTarget(policy.EngineNative, part.Name(katalog))}
		switch {
		case part.Mutating:
			pr.Answer = registration.ProbeMutate
		case part.Warn:
			pr.Answer = registration.ProbeWarn
		}
		probes = append(probes, pr)
	}
	for _, f := range webhook.Features {
		probes = append(probes, registration.Probe{Target: policy.ProbeTarget(policy.EngineWebhook, registration.ConfigName(katalog, f)),
			Webhook: "probe." + string(f) + "." + katalog + ".orkestra.io"})
	}
	eventually(t, 30*time.Second, "the registrations of "+katalog+" out of force", func() error {
		for _, pr := range probes {
			ok, err := prober.Once(ctx, pr)
			if err != nil {
				return err
			}
			if ok {
				return errorf("%s still answers its probe", pr.Target)
			}
		}
		return nil
	})
}
