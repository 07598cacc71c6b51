package certs

// Branches of Ensure that a real API server cannot be made to take on
// demand (errors other than the races); ensuretest covers the real thing.

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func fakeClient(t *testing.T, objs ...*corev1.Secret) *dynamicfake.FakeDynamicClient {
	t.Helper()
	var us []runtime.Object
	for _, s := range objs {
		s.TypeMeta.APIVersion, s.TypeMeta.Kind = "v1", "Secret"
		u, err := toUnstructured(&Secret{TypeMeta: s.TypeMeta, ObjectMeta: s.ObjectMeta, Type: string(s.Type), Data: s.Data})
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, u)
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{secretsGVR: "SecretList"}, us...)
}

func testOptions() Options {
	return Options{Namespace: "ns", SecretName: "tls", Hosts: testHosts, ValidFor: time.Hour}
}

func TestEnsureOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Namespace, o.SecretName = "", "" }, "options lack [namespace secret name]"},
		{func(o *Options) { o.Hosts = nil }, "options lack [hosts]"},
		{func(o *Options) { o.Hosts = []string{"a", ""} }, "empty host name"},
		{func(o *Options) { o.ValidFor = 0 }, "validity must be positive, got 0s"},
	} {
		o := testOptions()
		tc.change(&o)
		_, err := Ensure(context.Background(), fakeClient(t), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// Through the fake's tracker, Secrets go through the same unstructured
// conversion (base64 data) as with a real API server.
func TestEnsureRoundTrip(t *testing.T) {
	client := fakeClient(t)
	var logs bytes.Buffer
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m, err := Ensure(context.Background(), client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `msg="wrote the TLS secret" secret=ns/tls action=creating`) {
		t.Errorf("log: %s", logs.String())
	}
	again, err := Ensure(context.Background(), client, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Equal(m) {
		t.Fatal("second Ensure did not adopt the created Secret")
	}
	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb())
	}
	if got := strings.Join(verbs, ","); got != "get,create,get" {
		t.Fatalf("API calls %s, want get,create,get", got)
	}
}

func TestEnsureAPIErrors(t *testing.T) {
	forbidden := func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "tls", nil)
	}
	invalidSecret := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{KeyCert: []byte("x")}}
	invalidSecret.Namespace, invalidSecret.Name = "ns", "tls"

	for _, tc := range []struct {
		name    string
		objs    []*corev1.Secret
		verb    string
		reactor k8stesting.ReactionFunc
		want    string
		check   func(error) bool
	}{
		{"get forbidden", nil, "get", forbidden, "reading secret ns/tls: ", apierrors.IsForbidden},
		{"create forbidden", nil, "create", forbidden, "creating secret ns/tls: ", apierrors.IsForbidden},
		{"update forbidden", []*corev1.Secret{invalidSecret.DeepCopy()}, "update", forbidden,
			"replacing secret ns/tls (incomplete: missing or empty tls.key, ca.crt, ca.key): ", apierrors.IsForbidden},
		// Something keeps rewriting the Secret: give up after maxAttempts.
		{"endless conflicts", []*corev1.Secret{invalidSecret.DeepCopy()}, "update",
			func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, "tls", nil)
			}, "secret ns/tls kept changing under 5 read-write attempts", apierrors.IsConflict},
		{"endless AlreadyExists with nothing to read", nil, "create",
			func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, "tls")
			}, "secret ns/tls kept changing under 5 read-write attempts", apierrors.IsAlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fakeClient(t, tc.objs...)
			client.PrependReactor(tc.verb, "secrets", tc.reactor)
			m, err := Ensure(context.Background(), client, testOptions())
			if m != nil || err == nil || !strings.Contains(err.Error(), tc.want) || !tc.check(err) {
				t.Fatalf("Ensure = %v, %v; want an error containing %q", m, err, tc.want)
			}
		})
	}
}

func TestEnsureCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Ensure(ctx, fakeClient(t), testOptions())
	if err == nil || !strings.Contains(err.Error(), "ensuring secret ns/tls: context canceled") {
		t.Fatalf("error %v", err)
	}
}
