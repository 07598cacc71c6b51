package registration

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var endpointSliceGVR = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}

// sliceInfo and sliceEndpoint are the parts of discovery/v1 the shutdown check
// reads, with the same JSON shape. Local types keep k8s.io/api/discovery/v1,
// and through it k8s.io/api/core/v1 (several MB), out of the gateway binary.
type sliceInfo struct {
	Endpoints []sliceEndpoint `json:"endpoints"`
}

type sliceEndpoint struct {
	Addresses  []string `json:"addresses"`
	Conditions struct {
		Ready       *bool `json:"ready,omitempty"`
		Terminating *bool `json:"terminating,omitempty"`
	} `json:"conditions"`
	TargetRef *struct {
		Kind      string `json:"kind,omitempty"`
		Namespace string `json:"namespace,omitempty"`
		Name      string `json:"name,omitempty"`
		UID       string `json:"uid,omitempty"`
	} `json:"targetRef,omitempty"`
}

// OtherReadyReplicas reports whether the Service in front of the gateway has
// a ready endpoint other than this replica (selfIP), from the Service's
// EndpointSlices (label kubernetes.io/service-name). The last replica to shut
// down removes the registrations; any other leaves them, so a rolling update
// never opens a protection gap.
//
// An endpoint counts as ready when conditions.ready is true or unset (the
// API's "unknown, treat as ready"); terminating endpoints are not ready. On a
// dual-stack Service this replica has one address per family in different
// slices: any endpoint whose targetRef is the pod owning selfIP is this
// replica too.
func OtherReadyReplicas(ctx context.Context, client dynamic.Interface, namespace, service, selfIP string) (bool, error) {
	switch {
	case client == nil:
		return false, errors.New("other ready replicas: no API client")
	case namespace == "":
		return false, errors.New("other ready replicas: the namespace is empty")
	case service == "":
		return false, errors.New("other ready replicas: the service name is empty")
	case selfIP == "":
		// Without it every ready sliceEndpoint, this one included, looks like another replica.
		return false, errors.New("other ready replicas: this pod's IP is unknown (set POD_IP from status.podIP)")
	}
	var slices []sliceInfo
	opts := metav1.ListOptions{LabelSelector: "kubernetes.io/service-name" + "=" + service, Limit: 100}
	for {
		list, err := client.Resource(endpointSliceGVR).Namespace(namespace).List(ctx, opts)
		if err != nil {
			return false, fmt.Errorf("listing the EndpointSlices of service %s/%s: %w", namespace, service, err)
		}
		for i := range list.Items {
			var s sliceInfo
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &s); err != nil {
				return false, fmt.Errorf("decoding EndpointSlice %s/%s: %w", namespace, list.Items[i].GetName(), err)
			}
			slices = append(slices, s)
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			break
		}
	}
	return otherReady(slices, selfIP), nil
}

// otherReady is the decision of OtherReadyReplicas over decoded slices.
func otherReady(slices []sliceInfo, selfIP string) bool {
	// The pod (targetRef) that owns selfIP, if the slices say.
	var self *sliceEndpoint
	for i := range slices {
		for j := range slices[i].Endpoints {
			for _, a := range slices[i].Endpoints[j].Addresses {
				if a == selfIP {
					self = &slices[i].Endpoints[j]
				}
			}
		}
	}
	isSelf := func(e *sliceEndpoint) bool {
		for _, a := range e.Addresses {
			if a == selfIP {
				return true
			}
		}
		return self != nil && self.TargetRef != nil && e.TargetRef != nil &&
			self.TargetRef.Kind == e.TargetRef.Kind && self.TargetRef.Namespace == e.TargetRef.Namespace &&
			self.TargetRef.Name == e.TargetRef.Name && self.TargetRef.UID == e.TargetRef.UID
	}
	for i := range slices {
		for j := range slices[i].Endpoints {
			e := &slices[i].Endpoints[j]
			if len(e.Addresses) == 0 || isSelf(e) {
				continue
			}
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				continue
			}
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				return true
			}
		}
	}
	return false
}
