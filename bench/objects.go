package bench

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
)

// Groups of the copies of the Website CRD (assets/website-crd.yaml), one per
// admission variant of the end-to-end benchmark.
const (
	GroupNone    = "none.bench.example.com"  // no admission
	GroupGateway = "gw.bench.example.com"    // the gateway's /validate
	GroupVAP     = "vap.bench.example.com"   // the ValidatingAdmissionPolicy
	GroupFloor   = "floor.bench.example.com" // the floor server as a webhook
	GroupNative  = "nat.bench.example.com"   // the same rules, engine native (policies the gateway registers)
	GroupConvert = "conv.bench.example.com"  // the conversion CRD (assets/gadget-crd.yaml)
)

// Namespace is where the benchmarks create objects.
const Namespace = "bench"

var tiers = []string{"basic", "standard", "premium"}

// Website is a valid Website of group (every rule of the benchmark Katalog
// passes), as a client creates it; i varies its name and values.
func Website(group string, i int) map[string]any {
	tier := tiers[i%len(tiers)]
	replicas := 3 + i%8
	spec := map[string]any{
		"replicas": replicas,
		"image":    fmt.Sprintf("registry.example.com/shop-%d:1.%d.%d", i%7, i%10, i%3),
		"tier":     tier,
		"port":     8080 + i%10,
		"domains":  []any{fmt.Sprintf("shop-%d.example.com", i), fmt.Sprintf("www.shop-%d.example.com", i)},
		"resources": map[string]any{
			"cpu":    1 + i%4,
			"memory": 1024 * (1 + i%8),
		},
		"backup": map[string]any{"enabled": true, "retentionDays": 7 + i%21},
	}
	return map[string]any{
		"apiVersion": group + "/v1",
		"kind":       "Website",
		"metadata": map[string]any{
			"name":      fmt.Sprintf("shop-%d", i),
			"namespace": Namespace,
			"labels": map[string]any{
				"app.kubernetes.io/name":    "shop",
				"app.kubernetes.io/part-of": "storefront",
				"team":                      "payments",
				"environment":               "production",
			},
			"annotations": map[string]any{
				"example.com/owner":   "payments@example.com",
				"example.com/oncall":  "https://oncall.example.com/payments",
				"example.com/runbook": "https://runbooks.example.com/shop",
			},
		},
		"spec": spec,
	}
}

// Violation breaks exactly one rule of the benchmark Katalog (and so of
// vap.yaml); the harness checks that the gateway and the policy both deny
// each one with the rule's message.
type Violation struct {
	Message string // the rule's message
	Break   func(obj map[string]any)
}

func spec(o map[string]any) map[string]any     { return o["spec"].(map[string]any) }
func metadata(o map[string]any) map[string]any { return o["metadata"].(map[string]any) }

// Violations has one entry per rule, in rule order.
var Violations = []Violation{
	{"replicas must be between 1 and 10", func(o map[string]any) { spec(o)["replicas"] = 12 }},
	{"images come from the internal registry with a semver tag", func(o map[string]any) { spec(o)["image"] = "docker.io/library/nginx:latest" }},
	{"tier must be basic, standard or premium", func(o map[string]any) { spec(o)["tier"] = "gold" }},
	{"premium sites run at least 3 replicas", func(o map[string]any) { spec(o)["tier"], spec(o)["replicas"] = "premium", 2 }},
	{"premium sites need backups", func(o map[string]any) {
		spec(o)["tier"] = "premium"
		spec(o)["backup"] = map[string]any{"enabled": false}
	}},
	{"ports 22 and 25 are reserved", func(o map[string]any) { spec(o)["port"] = 22 }},
	{"the app.kubernetes.io/name label is required", func(o map[string]any) {
		delete(metadata(o)["labels"].(map[string]any), "app.kubernetes.io/name")
	}},
	{"the owner must be an example.com address", func(o map[string]any) {
		metadata(o)["annotations"].(map[string]any)["example.com/owner"] = "someone@elsewhere.org"
	}},
	{"domains must be under example.com", func(o map[string]any) { spec(o)["domains"] = []any{"shop.elsewhere.org"} }},
	{"at most 8 GiB of memory outside the ml team", func(o map[string]any) {
		spec(o)["tier"] = "standard"
		spec(o)["resources"] = map[string]any{"cpu": 2, "memory": 16384}
	}},
}

// Broken is a Website of group that breaks only violation v.
func Broken(group string, i int, v Violation) map[string]any {
	o := Website(group, i)
	v.Break(o)
	return o
}

// served adds what the API server adds before admission (uid,
// creationTimestamp, generation, managedFields) and what `kubectl apply`
// adds (last-applied-configuration), so a review is as large as a real one.
func served(o map[string]any, i int) map[string]any {
	o = deepCopy(o)
	md := metadata(o)
	applied, _ := json.Marshal(o)
	ann := maps.Clone(md["annotations"].(map[string]any))
	ann["kubectl.kubernetes.io/last-applied-configuration"] = string(applied) + "\n"
	md["annotations"] = ann
	md["uid"] = fmt.Sprintf("6a1f0c2e-5b7d-4c1e-9f3a-%012d", i)
	md["creationTimestamp"] = "2026-11-27T10:00:00Z"
	md["generation"] = 1
	md["managedFields"] = []any{map[string]any{
		"manager":    "kubectl-client-side-apply",
		"operation":  "Update",
		"apiVersion": o["apiVersion"],
		"time":       "2026-11-27T10:00:00Z",
		"fieldsType": "FieldsV1",
		"fieldsV1":   managedFields(o),
	}}
	return o
}

// managedFields is the FieldsV1 set of every leaf of o outside metadata.
func managedFields(o map[string]any) map[string]any {
	var walk func(v any) map[string]any
	walk = func(v any) map[string]any {
		out := map[string]any{}
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				out["f:"+k] = walk(x)
			}
		}
		return out
	}
	fs := walk(map[string]any{"spec": o["spec"]})
	md := metadata(o)
	mf := map[string]any{}
	for _, k := range []string{"labels", "annotations"} {
		m := map[string]any{".": map[string]any{}}
		for key := range md[k].(map[string]any) {
			m["f:"+key] = map[string]any{}
		}
		mf["f:"+k] = m
	}
	fs["f:metadata"] = mf
	return fs
}

func deepCopy(o map[string]any) map[string]any {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // only maps, slices, strings and numbers: cannot happen
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return c
}

// review wraps a request in an AdmissionReview.
func review(req map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request":    req,
	})
	if err != nil {
		panic(err)
	}
	return b
}

var adminUser = map[string]any{
	"username": "kubernetes-admin",
	"groups":   []any{"system:masters", "system:authenticated"},
}

// CreateReview is the AdmissionReview the API server sends /validate for a
// `kubectl apply` creating o (a Website of group).
func CreateReview(o map[string]any, i int) []byte {
	group := strings.TrimSuffix(o["apiVersion"].(string), "/v1")
	md := metadata(o)
	gvk := map[string]any{"group": group, "version": "v1", "kind": "Website"}
	gvr := map[string]any{"group": group, "version": "v1", "resource": "websites"}
	return review(map[string]any{
		"uid":             fmt.Sprintf("0c7e1f3a-8d2b-4e5f-a6b7-%012d", i),
		"kind":            gvk,
		"resource":        gvr,
		"requestKind":     gvk,
		"requestResource": gvr,
		"name":            md["name"],
		"namespace":       md["namespace"],
		"operation":       "CREATE",
		"userInfo":        adminUser,
		"object":          served(o, i),
		"oldObject":       nil,
		"dryRun":          false,
		"options":         map[string]any{"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"},
	})
}

// ValidateBodies are the /validate requests of the webhook benchmark, sent
// in rotation: n-1 valid Websites (allowed) and one that breaks two rules
// (denied), the mix of a cluster where most changes pass.
func ValidateBodies(n int) (bodies [][]byte, allowed []bool) {
	for i := range n {
		o := Website(GroupGateway, i)
		ok := i != n-1
		if !ok {
			Violations[0].Break(o)
			Violations[5].Break(o)
		}
		bodies = append(bodies, CreateReview(o, i))
		allowed = append(allowed, ok)
	}
	return bodies, allowed
}

// DeleteReview is the AdmissionReview the API server sends
// /deletion-protection for the DELETE of a protected ConfigMap holding
// about 2 KiB of data: denied.
func DeleteReview() []byte {
	data := map[string]any{}
	for i := range 8 {
		data[fmt.Sprintf("setting-%d.properties", i)] = strings.Repeat(fmt.Sprintf("key%d=value%d\n", i, i), 18)
	}
	cm := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":              "payments-config",
			"namespace":         Namespace,
			"uid":               "3b0c1d2e-4f5a-4b6c-8d7e-000000000001",
			"resourceVersion":   "48213",
			"creationTimestamp": "2026-11-27T10:00:00Z",
			"labels":            map[string]any{"orkestra.io/deletion-protection": "true", "app.kubernetes.io/name": "payments"},
			"managedFields": []any{map[string]any{
				"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": "2026-11-27T10:00:00Z",
				"fieldsType": "FieldsV1", "fieldsV1": map[string]any{"f:data": map[string]any{".": map[string]any{}}},
			}},
		},
		"data": data,
	}
	gvk := map[string]any{"group": "", "version": "v1", "kind": "ConfigMap"}
	gvr := map[string]any{"group": "", "version": "v1", "resource": "configmaps"}
	return review(map[string]any{
		"uid":             "9d8c7b6a-5f4e-4d3c-8b2a-000000000001",
		"kind":            gvk,
		"resource":        gvr,
		"requestKind":     gvk,
		"requestResource": gvr,
		"name":            "payments-config",
		"namespace":       Namespace,
		"operation":       "DELETE",
		"userInfo":        adminUser,
		"object":          nil,
		"oldObject":       cm,
		"dryRun":          false,
		"options":         map[string]any{"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "propagationPolicy": "Background"},
	})
}

// ConversionReview is a ConversionReview of n Gadgets at v1, to convert to
// v2 (a rename and a move, assets/katalog.yaml).
func ConversionReview(n int) []byte {
	objs := make([]any, n)
	for i := range objs {
		objs[i] = map[string]any{
			"apiVersion": GroupConvert + "/v1",
			"kind":       "Gadget",
			"metadata": map[string]any{
				"name": fmt.Sprintf("gadget-%d", i), "namespace": Namespace,
				"uid":               fmt.Sprintf("0b7e7a52-0000-4000-8000-%012d", i),
				"resourceVersion":   fmt.Sprint(1000 + i),
				"generation":        1,
				"creationTimestamp": "2026-11-27T10:00:00Z",
				"labels":            map[string]any{"app": "web"},
				"annotations":       map[string]any{"example.com/owner": "payments"},
			},
			"spec": map[string]any{
				"size":   i % 10,
				"image":  fmt.Sprintf("registry.example.com/team/app:1.%d", i),
				"ports":  []any{80, 443, 8080},
				"labels": map[string]any{"app": "web", "team": "payments", "tier": "frontend"},
			},
			"status": map[string]any{"ready": true, "message": "all good"},
		}
	}
	b, err := json.Marshal(map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "ConversionReview",
		"request": map[string]any{
			"uid":               "5e6f7a8b-0000-4000-8000-000000000001",
			"desiredAPIVersion": GroupConvert + "/v2",
			"objects":           objs,
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}
