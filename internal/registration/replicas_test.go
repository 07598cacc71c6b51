package registration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func endpoint(ip, pod string, ready, terminating *bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
	if pod != "" {
		e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "orkestra-system", Name: pod, UID: types.UID(pod + "-uid")}
	}
	return e
}

func slice(name, service string, family discoveryv1.AddressType, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{AddressType: family, Endpoints: eps}
	s.APIVersion, s.Kind = "discovery.k8s.io/v1", "EndpointSlice"
	s.Name, s.Namespace = name, "orkestra-system"
	s.Labels = map[string]string{discoveryv1.LabelServiceName: service}
	return s
}

func TestOtherReady(t *testing.T) {
	yes, no := new(bool), new(bool)
	*yes = true
	v4, v6 := discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6
	for _, tc := range []struct {
		name   string
		slices []discoveryv1.EndpointSlice
		want   bool
	}{
		{"no slices", nil, false},
		{"only self", []discoveryv1.EndpointSlice{slice("a", "gw", v4, endpoint("10.0.0.1", "gw-0", yes, nil))}, false},
		{"another ready", []discoveryv1.EndpointSlice{slice("a", "gw", v4, endpoint("10.0.0.1", "gw-0", no, yes), endpoint("10.0.0.2", "gw-1", yes, nil))}, true},
		{"another ready, unknown", []discoveryv1.EndpointSlice{slice("a", "gw", v4, endpoint("10.0.0.2", "gw-1", nil, nil))}, true},
		{"another not ready", []discoveryv1.EndpointSlice{slice("a", "gw", v4, endpoint("10.0.0.2", "gw-1", no, nil))}, false},
		{"another terminating", []discoveryv1.EndpointSlice{slice("a", "gw", v4, endpoint("10.0.0.2", "gw-1", nil, yes))}, false},
		{"another in a second slice", []discoveryv1.EndpointSlice{
			slice("a", "gw", v4, endpoint("10.0.0.1", "gw-0", yes, nil)),
			slice("b", "gw", v4, endpoint("10.0.0.3", "gw-2", yes, nil)),
		}, true},
		{"self on both families", []discoveryv1.EndpointSlice{
			slice("a", "gw", v4, endpoint("10.0.0.1", "gw-0", yes, nil)),
			slice("b", "gw", v6, endpoint("fd00::1", "gw-0", yes, nil)),
		}, false},
		{"other on the other family", []discoveryv1.EndpointSlice{
			slice("a", "gw", v4, endpoint("10.0.0.1", "gw-0", yes, nil)),
			slice("b", "gw", v6, endpoint("fd00::1", "gw-0", yes, nil), endpoint("fd00::2", "gw-1", yes, nil)),
		}, true},
		{"no addresses", []discoveryv1.EndpointSlice{slice("a", "gw", v4, discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: yes}})}, false},
	} {
		if got := otherReady(local(t, tc.slices), "10.0.0.1"); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOtherReadyReplicasLists(t *testing.T) {
	yes := new(bool)
	*yes = true
	var objs []runtime.Object
	for _, s := range []discoveryv1.EndpointSlice{
		slice("gw-a", "orkestra-gateway", discoveryv1.AddressTypeIPv4, endpoint("10.0.0.1", "gw-0", yes, nil)),
		// Another Service's ready endpoint must not count.
		slice("other-a", "other", discoveryv1.AddressTypeIPv4, endpoint("10.0.0.9", "other-0", yes, nil)),
	} {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&s)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	c := fakeClient(objs...)
	ctx := context.Background()
	got, err := OtherReadyReplicas(ctx, c, "orkestra-system", "orkestra-gateway", "10.0.0.1")
	if err != nil || got {
		t.Fatalf("OtherReadyReplicas = %v, %v; want false", got, err)
	}
	got, err = OtherReadyReplicas(ctx, c, "orkestra-system", "other", "10.0.0.1")
	if err != nil || !got {
		t.Fatalf("OtherReadyReplicas(other) = %v, %v; want true", got, err)
	}
	for _, args := range [][3]string{{"", "gw", "10.0.0.1"}, {"ns", "", "10.0.0.1"}, {"ns", "gw", ""}} {
		if _, err := OtherReadyReplicas(ctx, c, args[0], args[1], args[2]); err == nil || !strings.Contains(err.Error(), "empty") && !strings.Contains(err.Error(), "unknown") {
			t.Errorf("OtherReadyReplicas%q: err = %v", args, err)
		}
	}
}

// FuzzEndpointSlices decodes arbitrary EndpointSlice JSON the way
// OtherReadyReplicas does; decoding may fail but must not panic, and the
// decision must not either.
func FuzzEndpointSlices(f *testing.F) {
	yes := new(bool)
	*yes = true
	s := slice("a", "gw", discoveryv1.AddressTypeIPv4, endpoint("10.0.0.1", "gw-0", yes, nil), endpoint("10.0.0.2", "", nil, nil))
	b, err := json.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"endpoints":[{"addresses":null,"conditions":{"ready":"maybe"}}]}`))
	f.Add([]byte(`{"endpoints":[{"addresses":["10.0.0.1"],"targetRef":null},{"addresses":["x"],"targetRef":{}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
			return
		}
		var s sliceInfo
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &s); err != nil {
			return
		}
		_ = otherReady([]sliceInfo{s, s}, "10.0.0.1")
	})
}

// local decodes typed EndpointSlices into the package's minimal types, as
// OtherReadyReplicas does from the API server's JSON.
func local(t *testing.T, slices []discoveryv1.EndpointSlice) []sliceInfo {
	t.Helper()
	b, err := json.Marshal(slices)
	if err != nil {
		t.Fatal(err)
	}
	var out []sliceInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
