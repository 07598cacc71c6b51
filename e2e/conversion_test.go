package e2e

import (
	"context"
	"encoding/json"
	"fmt"
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
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

const (
	gadgetGroup         = "conve2e.example.com"
	gadgetCRDName       = "gadgets." + gadgetGroup
	preservedAnnotation = "conversion.orkestra.orkspace.io/preserved"
)

var gadgetVersions = []string{"v1", "v2", "v3"}

func gadgets(version, ns string) dynamic.ResourceInterface {
	return env.Dynamic.Resource(schema.GroupVersionResource{Group: gadgetGroup, Version: version, Resource: "gadgets"}).Namespace(ns)
}

func gadget(version, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gadgetGroup + "/" + version,
		"kind":       "Gadget",
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}}
}

// conversionGateway creates the Gadget CRD (strategy None, as a user would
// apply it) and starts a gateway that points its conversion at /convert.
func conversionGateway(t *testing.T) *gateway {
	t.Helper()
	return conversionGatewayWith(t, readTestdata(t, "conversion-katalog.yaml"))
}

// conversionGatewayWith is conversionGateway with another Katalog text.
func conversionGatewayWith(t *testing.T, katalogText string) *gateway {
	t.Helper()
	ctx := context.Background()
	applyCRD(t, readTestdata(t, "conversion-crd.yaml"))
	crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	g := startGateway(t, gatewayOptions{
		Katalog: katalogText,
		Files:   map[string]string{"crds/gadget.yaml": readTestdata(t, "conversion-crd.yaml")},
		Args:    []string{"--sync-interval", "1s"},
	})
	// updateCRD: the gateway sets strategy Webhook, its URL and caBundle.
	eventually(t, 30*time.Second, "CRD conversion set by the gateway", func() error {
		u, err := crds.Get(ctx, gadgetCRDName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		strategy, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy")
		url, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "webhook", "clientConfig", "url")
		ca, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "webhook", "clientConfig", "caBundle")
		versions, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "conversion", "webhook", "conversionReviewVersions")
		want := fmt.Sprintf("https://127.0.0.1:%d/convert", g.webhookPort)
		if strategy != "Webhook" || url != want || ca == "" || strings.Join(versions, ",") != "v1" {
			return fmt.Errorf("spec.conversion: strategy %q url %q (want %s), caBundle set %v, versions %v\n%s",
				strategy, url, want, ca != "", versions, g.proc.Logs())
		}
		return nil
	})
	// The API server may take a moment to pick the new conversion up.
	eventually(t, 30*time.Second, "conversion through the gateway", func() error {
		_, err := gadgets("v1", "default").List(ctx, metav1.ListOptions{})
		return err
	})
	return g
}

func gadgetSpec(t *testing.T, u *unstructured.Unstructured) map[string]any {
	t.Helper()
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	return spec
}

func mustGetGadget(t *testing.T, version, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := gadgets(version, ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", version, ns, name, err)
	}
	if u.GetAPIVersion() != gadgetGroup+"/"+version {
		t.Fatalf("get at %s returned %s", version, u.GetAPIVersion())
	}
	return u
}

// TestConversion drives the conversion webhook through a real API server:
// objects created at every version read at every other, updates at a
// non-storage version, type changes accepted by the schema, a failing
// conversion, lists of 500, a watch at a non-storage version, and the CRD
// still readable at every version after a restart of the gateway.
func TestConversion(t *testing.T) {
	ctx := context.Background()
	ns := "conversion"
	ensureNamespace(t, ns, nil)
	g := conversionGateway(t)

	// Created at every version.
	created := map[string]*unstructured.Unstructured{
		"v1": gadget("v1", "from-v1", map[string]any{"size": int64(3), "image": "nginx", "legacyMode": "compat", "labels": map[string]any{"app": "web"}}),
		"v2": gadget("v2", "from-v2", map[string]any{"replicas": int64(2), "container": map[string]any{"image": "redis"}, "ports": []any{int64(6379)}}),
		"v3": gadget("v3", "from-v3", map[string]any{"replicas": "4", "tier": "gold", "container": map[string]any{"image": "envoy"}}),
	}
	for _, v := range gadgetVersions {
		if _, err := gadgets(v, ns).Create(ctx, created[v], metav1.CreateOptions{}); err != nil {
			t.Fatalf("create at %s: %v\n%s", v, err, g.proc.Logs())
		}
	}

	// Read at every version: what each version should show.
	want := map[string]map[string]string{ // created at -> read at -> spec JSON
		"v1": {
			"v1": `{"image":"nginx","labels":{"app":"web"},"legacyMode":"compat","size":3}`,
			"v2": `{"container":{"image":"nginx"},"labels":{"app":"web"},"replicas":3}`,
			"v3": `{"container":{"image":"nginx"},"labels":{"app":"web"},"replicas":"3","tier":"standard"}`,
		},
		"v2": {
			"v1": `{"image":"redis","ports":[6379],"size":2}`,
			"v2": `{"container":{"image":"redis"},"ports":[6379],"replicas":2}`,
			"v3": `{"container":{"image":"redis"},"ports":[6379],"replicas":"2","tier":"standard"}`,
		},
		"v3": {
			"v1": `{"image":"envoy","size":4}`,
			"v2": `{"container":{"image":"envoy"},"replicas":4}`,
			"v3": `{"container":{"image":"envoy"},"replicas":"4","tier":"gold"}`,
		},
	}
	for _, from := range gadgetVersions {
		for _, at := range gadgetVersions {
			u := mustGetGadget(t, at, ns, "from-"+from)
			if got := gadgetJSON(t, gadgetSpec(t, u)); got != want[from][at] {
				t.Errorf("created at %s, read at %s: spec %s, want %s", from, at, got, want[from][at])
			}
			// At the version it was written in, an object reads back exactly,
			// with none of the gateway's annotation.
			if at == from {
				if _, ours := u.GetAnnotations()[preservedAnnotation]; ours {
					t.Errorf("created and read at %s: the preserved annotation leaks: %v", at, u.GetAnnotations())
				}
			}
		}
	}
	// What v2 cannot hold is preserved in storage.
	if a := mustGetGadget(t, "v2", ns, "from-v1").GetAnnotations()[preservedAnnotation]; !strings.Contains(a, `"legacyMode"`) {
		t.Errorf("stored object of from-v1 does not preserve legacyMode: %q", a)
	}

	// A number rendered into v2's integer field is accepted by the v2 schema:
	// writing the converted object back at v2 passes validation.
	u := mustGetGadget(t, "v2", ns, "from-v1")
	if r, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas"); r != int64(3) {
		t.Errorf("v2 replicas of from-v1 is %T %v, want the integer 3", r, r)
	}
	if _, err := gadgets("v2", ns).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Errorf("updating the converted object at v2: %v", err)
	}
	u = mustGetGadget(t, "v3", ns, "from-v3")
	if _, err := gadgets("v3", ns).Update(ctx, u, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("updating the converted object at v3: %v", err)
	}

	// Update at a non-storage version: the v1-only field survives.
	u = mustGetGadget(t, "v3", ns, "from-v1")
	if err := unstructured.SetNestedField(u.Object, "7", "spec", "replicas"); err != nil {
		t.Fatal(err)
	}
	if _, err := gadgets("v3", ns).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update at v3: %v", err)
	}
	if got := gadgetJSON(t, gadgetSpec(t, mustGetGadget(t, "v1", ns, "from-v1"))); got != `{"image":"nginx","labels":{"app":"web"},"legacyMode":"compat","size":7}` {
		t.Errorf("after an update at v3, v1 reads %s", got)
	}

	// A conversion that fails is refused with the gateway's reason.
	_, err := gadgets("v3", ns).Create(ctx, gadget("v3", "bad", map[string]any{"replicas": "lots"}), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `string "lots", not an integer`) {
		t.Errorf("creating an unconvertible object: %v", err)
	}

	// A CRD whose conversion was edited away is restored on the next tick.
	crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	if _, err := crds.Patch(ctx, gadgetCRDName, types.MergePatchType, []byte(`{"spec":{"conversion":{"strategy":"None","webhook":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("editing the CRD's conversion: %v", err)
	}
	eventually(t, 30*time.Second, "CRD conversion restored by the gateway", func() error {
		u, err := crds.Get(ctx, gadgetCRDName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy"); s != "Webhook" {
			return fmt.Errorf("strategy %q", s)
		}
		return nil
	})
	eventually(t, 30*time.Second, "v1 served through the gateway again", func() error {
		u, err := gadgets("v1", ns).Get(ctx, "from-v2", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := gadgetJSON(t, gadgetSpec(t, u)); got != want["v2"]["v1"] {
			return fmt.Errorf("from-v2 at v1: %s", got)
		}
		return nil
	})

	t.Run("list 500", func(t *testing.T) { testConversionList(t, 500) })
	t.Run("watch", testConversionWatch)

	// Metrics count conversions per group, kind and versions: the lists at
	// v1 and v3 went through the gateway, 500 objects each at least.
	code, metrics := g.probe("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, c := range []struct {
		from, to string
		min      float64
	}{{"v1", "v2", 500}, {"v2", "v1", 500}, {"v2", "v3", 500}, {"v3", "v2", 1}} {
		series := fmt.Sprintf(`orkestra_gateway_conversion_objects_total{from=%q,group=%q,kind="Gadget",result="success",to=%q} `, c.from, gadgetGroup, c.to)
		var n float64
		for _, l := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(l, series) {
				fmt.Sscan(strings.TrimPrefix(l, series), &n)
			}
		}
		if n < c.min {
			t.Errorf("%s -> %s: %v objects converted, want at least %v\n%s", c.from, c.to, n, c.min, gadgetGrep(metrics, "conversion_objects"))
		}
	}

	// Restart: the CRD stays readable at every version.
	g.proc.Kill()
	if _, err := g.proc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	g2 := startGateway(t, gatewayOptions{Restart: g, Args: []string{"--sync-interval", "1s"}})
	for _, at := range gadgetVersions {
		eventually(t, 30*time.Second, "read at "+at+" after the restart", func() error {
			l, err := gadgets(at, ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(l.Items) != 3 {
				return fmt.Errorf("%d gadgets, want 3", len(l.Items))
			}
			return nil
		})
		for _, from := range gadgetVersions {
			if u := mustGetGadget(t, at, ns, "from-"+from); from == "v3" && gadgetJSON(t, gadgetSpec(t, u)) != want[from][at] {
				t.Errorf("after the restart, from-v3 at %s: %s", at, gadgetJSON(t, gadgetSpec(t, u)))
			}
		}
	}
	_ = g2
}

// testConversionList creates n objects at v1 and lists them at every
// version: each list at a non-storage version is one ConversionReview.
func testConversionList(t *testing.T, n int) {
	ctx := context.Background()
	ns := "conversion-list"
	ensureNamespace(t, ns, nil)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				o := gadget("v1", fmt.Sprintf("item-%03d", i), map[string]any{"size": int64(i), "image": fmt.Sprintf("app:%d", i), "legacyMode": "m"})
				if _, err := gadgets("v1", ns).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					errs <- err
				}
			}
		}()
	}
	start := time.Now()
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	t.Logf("%d objects created at v1 in %s", n, time.Since(start).Round(time.Millisecond))
	for _, at := range gadgetVersions {
		start := time.Now()
		l, err := gadgets(at, ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list at %s: %v", at, err)
		}
		t.Logf("list of %d at %s in %s", len(l.Items), at, time.Since(start).Round(time.Millisecond))
		if len(l.Items) != n {
			t.Fatalf("list at %s: %d items, want %d", at, len(l.Items), n)
		}
		for _, u := range l.Items {
			var i int
			if _, err := fmt.Sscanf(u.GetName(), "item-%d", &i); err != nil {
				t.Fatal(err)
			}
			spec := gadgetSpec(t, &u)
			var ok bool
			switch at {
			case "v1":
				ok = spec["size"] == int64(i) && spec["legacyMode"] == "m"
			case "v2":
				ok = spec["replicas"] == int64(i) && spec["size"] == nil
			case "v3":
				ok = spec["replicas"] == fmt.Sprint(i) && spec["tier"] == "standard"
			}
			if !ok || u.GetAPIVersion() != gadgetGroup+"/"+at {
				t.Fatalf("list at %s: %s %s spec %s", at, u.GetAPIVersion(), u.GetName(), gadgetJSON(t, spec))
			}
		}
	}
}

// testConversionWatch watches at v3 (not stored) while objects change at
// v1 and v2.
func testConversionWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := "conversion-watch"
	ensureNamespace(t, ns, nil)
	w, err := gadgets("v3", ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := gadgets("v1", ns).Create(ctx, gadget("v1", "watched", map[string]any{"size": int64(1), "image": "a"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	next := func(want watch.EventType) *unstructured.Unstructured {
		t.Helper()
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("watch closed waiting for %s", want)
				}
				if ev.Type == watch.Error {
					t.Fatalf("watch error: %v", ev.Object)
				}
				u, _ := ev.Object.(*unstructured.Unstructured)
				if ev.Type == want && u != nil {
					return u
				}
			case <-ctx.Done():
				t.Fatalf("no %s event", want)
			}
		}
	}
	u := next(watch.Added)
	if u.GetAPIVersion() != gadgetGroup+"/v3" || gadgetJSON(t, gadgetSpec(t, u)) != `{"container":{"image":"a"},"replicas":"1","tier":"standard"}` {
		t.Errorf("ADDED at v3: %s %s", u.GetAPIVersion(), gadgetJSON(t, gadgetSpec(t, u)))
	}
	v2 := mustGetGadget(t, "v2", ns, "watched")
	if err := unstructured.SetNestedField(v2.Object, int64(5), "spec", "replicas"); err != nil {
		t.Fatal(err)
	}
	if _, err := gadgets("v2", ns).Update(ctx, v2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	u = next(watch.Modified)
	if r, _, _ := unstructured.NestedString(u.Object, "spec", "replicas"); r != "5" || u.GetAPIVersion() != gadgetGroup+"/v3" {
		t.Errorf("MODIFIED at v3: %s replicas %q", u.GetAPIVersion(), r)
	}
}

func gadgetJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func gadgetGrep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// strictConversionKatalog is the conversion Katalog under another name, with
// deletion protection in strict mode: protected Gadgets can be neither
// deleted nor stripped of their label.
func strictConversionKatalog(t *testing.T, name string) string {
	t.Helper()
	text := readTestdata(t, "conversion-katalog.yaml")
	text = strings.Replace(text, "name: conversion-e2e", "name: "+name, 1)
	return strings.Replace(text, "security:\n", "security:\n  deletionProtection:\n    enabled: true\n    strictMode: true\n"+
		"    breakGlass:\n      groups: [platform:break-glass]\n", 1)
}

// cleanKatalog removes, at the end of the test (after the gateway is killed:
// cleanups run last in, first out), the configurations of Katalog name: a
// dead gateway's failurePolicy Fail would block later tests.
func cleanKatalog(t *testing.T, name string) {
	t.Helper()
	deleteConfigs(t, managedSelector) // what earlier tests' gateways left
	t.Cleanup(func() { deleteConfigs(t, katalogLabel+"="+name) })
}

// TestConversionLabelRewrite performs the attack of a user who may update a
// converted resource at a non-storage version: a forged preserved-fields
// annotation that would remove the protection label (and add another label)
// when the API server converts the update to the storage version, behind
// strict mode's back (strict mode sees the labels unchanged at v1). The
// stored labels must stay exactly as they were, and the object must still be
// protected. A genuine annotation copied onto another object must not
// restore anything either.
func TestConversionLabelRewrite(t *testing.T) {
	ctx := context.Background()
	const name = "conversion-strict"
	ns := "conversion-strict"
	cleanKatalog(t, name)
	ensureNamespace(t, ns, nil)
	g := conversionGatewayWith(t, strictConversionKatalog(t, name))
	t.Cleanup(func() {
		// After the configurations are gone: nothing protects them any more.
		for _, n := range []string{"guarded", "source", "target"} {
			_ = gadgets("v2", ns).Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})

	labels := map[string]any{protectionLabel: "true", "team": "a"}
	o := gadget("v1", "guarded", map[string]any{"size": int64(2), "image": "nginx"})
	o.Object["metadata"].(map[string]any)["labels"] = labels
	if _, err := gadgets("v1", ns).Create(ctx, o, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v\n%s", err, g.proc.Logs())
	}
	eventually(t, 20*time.Second, "deletion protection active", func() error {
		err := gadgets("v1", ns).Delete(ctx, "guarded", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if isForbidden(err) {
			return nil
		}
		return fmt.Errorf("dry-run delete of the protected gadget: %v", err)
	})
	before := counterSum(t, g, "orkestra_gateway_conversion_preserved_invalid_total")

	// The forged annotation: an entry "pushed by v2 -> v1", popped by the
	// conversion of the update to v2, removing the protection label where it
	// is "true" and adding owner=mallory.
	forged := `[{"from":"v2","to":"v1","fields":[` +
		`{"path":["metadata","labels","orkestra.io/deletion-protection"],"base":"true"},` +
		`{"path":["metadata","labels","owner"],"value":"mallory"}]}]`
	u := mustGetGadget(t, "v1", ns, "guarded")
	u.SetAnnotations(map[string]string{preservedAnnotation: forged})
	if _, err := gadgets("v1", ns).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Logf("the update carrying the forged annotation was refused: %v", err)
	}
	for _, v := range gadgetVersions {
		got := mustGetGadget(t, v, ns, "guarded").GetLabels()
		if gadgetJSON(t, got) != gadgetJSON(t, labels) {
			t.Errorf("read at %s after the forged update: labels %v, want exactly %v", v, got, labels)
		}
	}
	if err := gadgets("v1", ns).Delete(ctx, "guarded", metav1.DeleteOptions{}); !isForbidden(err) {
		t.Errorf("deleting the protected gadget after the forged update: %v, want Forbidden", err)
	}
	if after := counterSum(t, g, "orkestra_gateway_conversion_preserved_invalid_total"); after <= before {
		t.Errorf("the forged annotation was not counted: orkestra_gateway_conversion_preserved_invalid_total %v -> %v", before, after)
	}
	if !strings.Contains(g.proc.Logs(), "guarded") || !strings.Contains(g.proc.Logs(), "ignoring") {
		t.Errorf("the forged annotation was not logged:\n%s", g.proc.Logs())
	}

	// A genuine annotation (stored at v2 for source, which keeps the
	// v1-only legacyMode) copied onto another object verifies for source
	// only: target must not gain legacyMode at v1.
	src := gadget("v1", "source", map[string]any{"size": int64(1), "image": "a", "legacyMode": "compat"})
	if _, err := gadgets("v1", ns).Create(ctx, src, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gadgets("v1", ns).Create(ctx, gadget("v1", "target", map[string]any{"size": int64(1), "image": "b"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	genuine := mustGetGadget(t, "v2", ns, "source").GetAnnotations()[preservedAnnotation]
	if !strings.Contains(genuine, "legacyMode") {
		t.Fatalf("source stored at v2 does not preserve legacyMode: %q", genuine)
	}
	tu := mustGetGadget(t, "v2", ns, "target")
	tu.SetAnnotations(map[string]string{preservedAnnotation: genuine})
	if _, err := gadgets("v2", ns).Update(ctx, tu, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("copying the annotation at the storage version: %v", err)
	}
	if spec := gadgetSpec(t, mustGetGadget(t, "v1", ns, "target")); spec["legacyMode"] != nil {
		t.Errorf("an annotation copied from another object restored legacyMode on target: %s", gadgetJSON(t, spec))
	}
	if spec := gadgetSpec(t, mustGetGadget(t, "v1", ns, "source")); spec["legacyMode"] != "compat" {
		t.Errorf("source lost its own preserved legacyMode: %s", gadgetJSON(t, spec))
	}
}

// counterSum is the sum of a counter's series; 0 when it has none yet (a
// vector without children is not exposed).
func counterSum(t *testing.T, g *gateway, name string) float64 {
	t.Helper()
	code, body := g.probe("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	if !strings.Contains(body, "\n"+name) {
		return 0
	}
	return metric(t, g, name)
}

// TestConversionUninstall: the last replica to stop resets the CRD's
// spec.conversion to strategy None, so the CRD stays readable at every
// version without a gateway (objects come back as stored, apiVersion
// aside); with keepOnShutdown it keeps pointing at the gateway.
func TestConversionUninstall(t *testing.T) {
	ctx := context.Background()
	ns := "conversion-uninstall"
	ensureNamespace(t, ns, nil)
	crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	strategy := func() string {
		t.Helper()
		u, err := crds.Get(ctx, gadgetCRDName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy")
		if _, hasWebhook, _ := unstructured.NestedMap(u.Object, "spec", "conversion", "webhook"); hasWebhook && s == "None" {
			t.Errorf("strategy None with a webhook left: %v", u.Object["spec"].(map[string]any)["conversion"])
		}
		return s
	}
	stop := func(g *gateway) {
		t.Helper()
		if err := g.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, err := g.proc.Wait(30 * time.Second); err != nil || code != 0 {
			t.Fatalf("SIGTERM: exit %d, %v\n%s", code, err, g.proc.Logs())
		}
	}

	t.Run("reset", func(t *testing.T) {
		g := conversionGateway(t)
		if _, err := gadgets("v1", ns).Create(ctx, gadget("v1", "kept", map[string]any{"size": int64(2), "image": "nginx"}), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		stop(g)
		if !strings.Contains(g.proc.Logs(), "CRD conversion reset to strategy None") {
			t.Errorf("no reset logged:\n%s", g.proc.Logs())
		}
		if s := strategy(); s != "None" {
			t.Fatalf("strategy %q after the last replica stopped, want None", s)
		}
		// Readable at every version, as stored (v2), apiVersion aside.
		for _, v := range gadgetVersions {
			eventually(t, 30*time.Second, "read at "+v+" without a gateway", func() error {
				u, err := gadgets(v, ns).Get(ctx, "kept", metav1.GetOptions{})
				if err != nil {
					return err
				}
				if u.GetAPIVersion() != gadgetGroup+"/"+v {
					return fmt.Errorf("apiVersion %s", u.GetAPIVersion())
				}
				if r, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas"); r != int64(2) && v == "v2" {
					return fmt.Errorf("spec %v", u.Object["spec"])
				}
				return nil
			})
		}
		if _, err := gadgets("v1", ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list at v1 without a gateway: %v", err)
		}
	})

	t.Run("keepOnShutdown", func(t *testing.T) {
		text := strings.Replace(readTestdata(t, "conversion-katalog.yaml"), "        updateCRD: true\n", "        updateCRD: true\n        keepOnShutdown: true\n", 1)
		if !strings.Contains(text, "keepOnShutdown") {
			t.Fatal("the test Katalog has no updateCRD line to add keepOnShutdown after")
		}
		g := conversionGatewayWith(t, text)
		t.Cleanup(func() { // leave the CRD readable for later tests
			_, _ = crds.Patch(context.Background(), gadgetCRDName, types.MergePatchType, []byte(`{"spec":{"conversion":{"strategy":"None","webhook":null}}}`), metav1.PatchOptions{})
		})
		stop(g)
		if strings.Contains(g.proc.Logs(), "CRD conversion reset") {
			t.Errorf("reset although keepOnShutdown:\n%s", g.proc.Logs())
		}
		if s := strategy(); s != "Webhook" {
			t.Errorf("strategy %q after the last replica stopped with keepOnShutdown, want Webhook", s)
		}
	})
}
