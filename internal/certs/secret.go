package certs

import (
	"context"
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// The labels of the TLS Secret: the gateway protects it from deletion and
// marks it as its own. They equal policy.ProtectionLabel, ManagedByLabel and
// ManagedByValue (a test checks); certs does not import policy so that it
// stays a leaf package, independent of the Katalog packages.
const (
	protectionLabel = "orkestra.io/deletion-protection"
	managedByLabel  = "app.kubernetes.io/managed-by"
	managedByValue  = "orkestra-gateway"
)

// Labels returns the labels the TLS Secret carries.
func Labels() map[string]string {
	return map[string]string{protectionLabel: "true", managedByLabel: managedByValue}
}

func hasLabels(labels map[string]string) bool {
	for k, v := range Labels() {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ParseSecret checks the Secret's type and parses its data (see Parse). The
// material records the Secret's resourceVersion.
func ParseSecret(s *Secret) (*Material, error) {
	if s.Type != secretTypeTLS {
		// Not an *invalidError: the type is immutable, so no update can fix it.
		return nil, fmt.Errorf("secret %s/%s has type %q, want %q; delete it so that the gateway can create its own", s.Namespace, s.Name, s.Type, secretTypeTLS)
	}
	m, err := Parse(s.Data)
	if err != nil {
		return nil, err
	}
	m.ResourceVersion = s.ResourceVersion
	return m, nil
}

// newSecret is the Secret holding m.
func newSecret(namespace, name string, m *Material) *Secret {
	return &Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: Labels()},
		Type:       secretTypeTLS,
		Data:       m.Data(),
	}
}

// store reads and writes the TLS Secret through the dynamic client.
type store struct {
	client          dynamic.ResourceInterface
	namespace, name string
}

func newStore(client dynamic.Interface, namespace, name string) *store {
	return &store{client: client.Resource(secretsGVR).Namespace(namespace), namespace: namespace, name: name}
}

func (s *store) String() string { return "secret " + s.namespace + "/" + s.name }

// get returns the Secret; the API error is returned as is (test it with
// apierrors.IsNotFound).
func (s *store) get(ctx context.Context) (*Secret, error) {
	u, err := s.client.Get(ctx, s.name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return s.fromUnstructured(u)
}

// create creates the Secret holding m and returns what the API server stored.
func (s *store) create(ctx context.Context, m *Material) (*Secret, error) {
	u, err := toUnstructured(newSecret(s.namespace, s.name, m))
	if err != nil {
		return nil, err
	}
	out, err := s.client.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return s.fromUnstructured(out)
}

// update replaces the data of base (as read, with its resourceVersion) by m
// and returns what the API server stored. It fails with a Conflict if the
// Secret changed since base was read. Other labels and annotations are kept.
func (s *store) update(ctx context.Context, base *Secret, m *Material) (*Secret, error) {
	sec := &Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: *base.ObjectMeta.DeepCopy(), Type: base.Type}
	if sec.Labels == nil {
		sec.Labels = map[string]string{}
	}
	maps.Copy(sec.Labels, Labels())
	sec.Data = m.Data()
	u, err := toUnstructured(sec)
	if err != nil {
		return nil, err
	}
	out, err := s.client.Update(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return s.fromUnstructured(out)
}

// write creates the Secret holding m if base is nil, else updates base.
func (s *store) write(ctx context.Context, base *Secret, m *Material) (*Secret, error) {
	if base == nil {
		return s.create(ctx, m)
	}
	return s.update(ctx, base, m)
}

func (s *store) fromUnstructured(u *unstructured.Unstructured) (*Secret, error) {
	var sec Secret
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), &sec); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", s, err)
	}
	return &sec, nil
}

func toUnstructured(sec *Secret) (*unstructured.Unstructured, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(sec)
	if err != nil {
		return nil, fmt.Errorf("encoding secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// Secret is the part of a core/v1 Secret the gateway reads and writes, with
// the same JSON shape. A local type keeps k8s.io/api/core/v1 (several MB of
// generated code) out of the gateway binary.
type Secret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Type              string            `json:"type,omitempty"`
	Data              map[string][]byte `json:"data,omitempty"`
}

// secretTypeTLS is the type of the gateway's Secret.
const secretTypeTLS = "kubernetes.io/tls"
