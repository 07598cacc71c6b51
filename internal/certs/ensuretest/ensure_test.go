package ensuretest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

const secretName = "orkestra-internal-tls"

// newNamespace creates an empty namespace for one test.
func newNamespace(t *testing.T) string { return env.Namespace(t, "certs") }

func options(ns string) certs.Options {
	u, _ := url.Parse("https://127.0.0.1:9443")
	return certs.Options{
		Namespace:  ns,
		SecretName: secretName,
		Hosts:      certs.Hosts("orkestra-gateway", ns, u),
		ValidFor:   24 * time.Hour,
	}
}

func getSecret(t *testing.T, ns string) *corev1.Secret {
	t.Helper()
	s, err := env.Clientset.CoreV1().Secrets(ns).Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// createSecret creates the Secret as someone else would. It carries the
// label keep=me, plus the gateway's labels if labelled.
func createSecret(t *testing.T, ns string, typ corev1.SecretType, data map[string][]byte, labelled bool) *corev1.Secret {
	t.Helper()
	labels := map[string]string{"keep": "me"}
	if labelled {
		maps.Copy(labels, certs.Labels())
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns, Labels: labels},
		Type:       typ,
		Data:       data,
	}
	s, err := env.Clientset.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkStored asserts that m is exactly what the Secret holds now.
func checkStored(t *testing.T, ns string, m *certs.Material) *corev1.Secret {
	t.Helper()
	s := getSecret(t, ns)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("secret type %q, want %q", s.Type, corev1.SecretTypeTLS)
	}
	for k, v := range m.Data() {
		if !bytes.Equal(s.Data[k], v) {
			t.Errorf("secret key %s differs from the returned material", k)
		}
	}
	if len(s.Data) != 5 || len(s.Data[certs.KeyConversion]) != certs.ConversionKeyBytes {
		t.Errorf("secret has keys %v, want tls.crt, tls.key, ca.crt, ca.key and a %d-byte conversion.key", keys(s.Data), certs.ConversionKeyBytes)
	}
	if m.ResourceVersion != s.ResourceVersion {
		t.Errorf("material resourceVersion %q, secret's %q", m.ResourceVersion, s.ResourceVersion)
	}
	if s.Labels[policy.ProtectionLabel] != "true" || s.Labels[policy.ManagedByLabel] != policy.ManagedByValue {
		t.Errorf("secret labels %v lack the protection and managed-by labels", s.Labels)
	}
	if err := m.Verify(time.Now(), options(ns).Hosts); err != nil {
		t.Errorf("returned material does not verify: %v", err)
	}
	return s
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestEnsureCreatesThenReads(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	first, err := certs.Ensure(ctx, env.Dynamic, options(ns))
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, ns, first)
	if got := first.Leaf().IPAddresses; len(got) != 1 || got[0].String() != "127.0.0.1" {
		t.Errorf("IP SANs %v, want [127.0.0.1]", got)
	}

	second, err := certs.Ensure(ctx, env.Dynamic, options(ns))
	if err != nil {
		t.Fatal(err)
	}
	if !second.Equal(first) || second.ResourceVersion != first.ResourceVersion {
		t.Fatalf("second Ensure did not adopt the stored Secret (resourceVersion %s, then %s)", first.ResourceVersion, second.ResourceVersion)
	}
}

// TestEnsureConcurrent runs three replicas at once, on an empty namespace
// and on a corrupted Secret: all must end up with the same material.
func TestEnsureConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, ns string)
	}{
		{"empty", func(*testing.T, string) {}},
		{"corrupted", func(t *testing.T, ns string) {
			createSecret(t, ns, corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("y")}, false)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			tc.setup(t, ns)
			const replicas = 3
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				results [replicas]*certs.Material
				errs    [replicas]error
			)
			client := &racing{Interface: env.Dynamic} // counts writes
			for i := range replicas {
				wg.Go(func() {
					<-start
					results[i], errs[i] = certs.Ensure(context.Background(), client, options(ns))
				})
			}
			close(start)
			wg.Wait()
			t.Logf("%d creates, %d updates", client.creates.Load(), client.updates.Load())
			for i := range replicas {
				if errs[i] != nil {
					t.Fatalf("replica %d: %v", i, errs[i])
				}
				if !results[i].Equal(results[0]) {
					t.Fatalf("replica %d got other material than replica 0", i)
				}
			}
			checkStored(t, ns, results[0])
		})
	}
}

func TestEnsureReplacesInvalid(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	hostsFor := func(ns string) []string { return options(ns).Hosts }
	gen := func(t *testing.T, hosts []string, at time.Time, validFor time.Duration) *certs.Material {
		t.Helper()
		m, err := certs.Generate(hosts, at, validFor)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name string
		data func(t *testing.T, ns string) map[string][]byte
		why  error
	}{
		{"corrupted", func(t *testing.T, ns string) map[string][]byte {
			d := gen(t, hostsFor(ns), now, time.Hour).Data()
			d["tls.crt"] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
			return d
		}, certs.ErrMalformed},
		{"incomplete", func(t *testing.T, ns string) map[string][]byte {
			d := gen(t, hostsFor(ns), now, time.Hour).Data()
			delete(d, "ca.key")
			return d
		}, certs.ErrIncomplete},
		{"expired", func(t *testing.T, ns string) map[string][]byte {
			return gen(t, hostsFor(ns), now.Add(-48*time.Hour), 24*time.Hour).Data()
		}, certs.ErrExpired},
		{"wrong hosts", func(t *testing.T, ns string) map[string][]byte {
			return gen(t, certs.Hosts("other", ns, nil), now, time.Hour).Data()
		}, certs.ErrWrongHosts},
		{"untrusted", func(t *testing.T, ns string) map[string][]byte {
			d := gen(t, hostsFor(ns), now, time.Hour).Data()
			o := gen(t, hostsFor(ns), now, time.Hour).Data()
			d["ca.crt"], d["ca.key"] = o["ca.crt"], o["ca.key"]
			return d
		}, certs.ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			data := tc.data(t, ns)
			old := createSecret(t, ns, corev1.SecretTypeTLS, data, false)

			// The setup is invalid for the expected reason.
			pm, err := certs.ParseSecret(&certs.Secret{ObjectMeta: old.ObjectMeta, Type: string(old.Type), Data: old.Data})
			if err == nil {
				err = pm.Verify(time.Now(), hostsFor(ns))
			}
			if !errors.Is(err, tc.why) {
				t.Fatalf("stored material: error %v, want %v", err, tc.why)
			}

			m, err := certs.Ensure(ctx, env.Dynamic, options(ns))
			if err != nil {
				t.Fatal(err)
			}
			s := checkStored(t, ns, m)
			if s.ResourceVersion == old.ResourceVersion || bytes.Equal(s.Data["tls.crt"], data["tls.crt"]) {
				t.Fatal("the invalid Secret was not replaced")
			}
			if s.Labels["keep"] != "me" {
				t.Errorf("replacing dropped the other labels: %v", s.Labels)
			}
		})
	}
}

// racing wraps a dynamic client and runs a callback before the first Create
// or Update of a Secret, to lose a race against another replica
// deterministically.
type racing struct {
	dynamic.Interface
	beforeCreate, beforeUpdate func()
	creates, updates           atomic.Int32
}

func (r *racing) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return racingResource{r.Interface.Resource(gvr), r}
}

type racingResource struct {
	dynamic.NamespaceableResourceInterface
	r *racing
}

func (rr racingResource) Namespace(ns string) dynamic.ResourceInterface {
	return racingNamespaced{rr.NamespaceableResourceInterface.Namespace(ns), rr.r}
}

type racingNamespaced struct {
	dynamic.ResourceInterface
	r *racing
}

func (rn racingNamespaced) Create(ctx context.Context, obj *unstructured.Unstructured, opts metav1.CreateOptions, sub ...string) (*unstructured.Unstructured, error) {
	if rn.r.creates.Add(1) == 1 && rn.r.beforeCreate != nil {
		rn.r.beforeCreate()
	}
	return rn.ResourceInterface.Create(ctx, obj, opts, sub...)
}

func (rn racingNamespaced) Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions, sub ...string) (*unstructured.Unstructured, error) {
	if rn.r.updates.Add(1) == 1 && rn.r.beforeUpdate != nil {
		rn.r.beforeUpdate()
	}
	return rn.ResourceInterface.Update(ctx, obj, opts, sub...)
}

// generateKeyed is what another replica writes: material and a conversion key.
func generateKeyed(t *testing.T, hosts []string) *certs.Material {
	t.Helper()
	m, err := certs.Generate(hosts, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.ConversionKey, err = certs.NewConversionKey(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEnsureAdoptsWinnerOfCreate(t *testing.T) {
	ns := newNamespace(t)
	winner := generateKeyed(t, options(ns).Hosts)
	client := &racing{Interface: env.Dynamic}
	client.beforeCreate = func() { createSecret(t, ns, corev1.SecretTypeTLS, winner.Data(), true) }

	m, err := certs.Ensure(context.Background(), client, options(ns))
	if err != nil {
		t.Fatal(err)
	}
	if client.creates.Load() != 1 || client.updates.Load() != 0 {
		t.Fatalf("%d creates and %d updates, want 1 create (lost) and no update", client.creates.Load(), client.updates.Load())
	}
	if !m.Equal(winner) {
		t.Fatal("Ensure did not adopt the winner's Secret after AlreadyExists")
	}
	checkStored(t, ns, m)
}

func TestEnsureAdoptsWinnerOfUpdate(t *testing.T) {
	ns := newNamespace(t)
	createSecret(t, ns, corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("y")}, false)
	winner := generateKeyed(t, options(ns).Hosts)
	client := &racing{Interface: env.Dynamic}
	client.beforeUpdate = func() {
		s := getSecret(t, ns)
		s.Data = winner.Data()
		maps.Copy(s.Labels, certs.Labels())
		if _, err := env.Clientset.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}

	m, err := certs.Ensure(context.Background(), client, options(ns))
	if err != nil {
		t.Fatal(err)
	}
	if client.updates.Load() != 1 {
		t.Fatalf("%d updates, want 1 (lost, then adopted)", client.updates.Load())
	}
	if !m.Equal(winner) {
		t.Fatal("Ensure did not adopt the winner's Secret after a Conflict")
	}
	if got := getSecret(t, ns); !bytes.Equal(got.Data["tls.crt"], winner.CertPEM) {
		t.Fatal("the losing update overwrote the winner's Secret")
	}
}

// A valid Secret whose labels were removed gets them back, data unchanged.
func TestEnsureRestoresLabels(t *testing.T) {
	ns := newNamespace(t)
	valid := generateKeyed(t, options(ns).Hosts)
	old := createSecret(t, ns, corev1.SecretTypeTLS, valid.Data(), false)
	m, err := certs.Ensure(context.Background(), env.Dynamic, options(ns))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Equal(valid) {
		t.Fatal("a valid Secret was replaced instead of relabelled")
	}
	s := checkStored(t, ns, m)
	if s.ResourceVersion == old.ResourceVersion || s.Labels["keep"] != "me" {
		t.Fatalf("labels after Ensure: %v (resourceVersion %s, was %s)", s.Labels, s.ResourceVersion, old.ResourceVersion)
	}
}

func TestEnsureWrongType(t *testing.T) {
	ns := newNamespace(t)
	old := createSecret(t, ns, corev1.SecretTypeOpaque, map[string][]byte{"x": []byte("y")}, false)
	_, err := certs.Ensure(context.Background(), env.Dynamic, options(ns))
	if err == nil || !strings.Contains(err.Error(), `has type "Opaque", want "kubernetes.io/tls"`) {
		t.Fatalf("error %v, want one naming the wrong type", err)
	}
	if s := getSecret(t, ns); s.ResourceVersion != old.ResourceVersion {
		t.Fatal("the Opaque Secret was modified")
	}
}

func TestEnsureMissingNamespace(t *testing.T) {
	_, err := certs.Ensure(context.Background(), env.Dynamic, options("certs-absent"))
	if err == nil || !strings.Contains(err.Error(), `creating secret certs-absent/orkestra-internal-tls`) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("error %v, want a creation error saying the namespace is not found", err)
	}
}

// A valid Secret without a conversion key (written by hand, or before the
// key existed) gets one, certificates unchanged; replicas racing to add it
// all end up with the one the API server stored.
func TestEnsureAddsConversionKey(t *testing.T) {
	ns := newNamespace(t)
	valid, err := certs.Generate(options(ns).Hosts, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	createSecret(t, ns, corev1.SecretTypeTLS, valid.Data(), true)
	const replicas = 3
	var (
		wg      sync.WaitGroup
		results [replicas]*certs.Material
		errs    [replicas]error
	)
	for i := range replicas {
		wg.Go(func() { results[i], errs[i] = certs.Ensure(context.Background(), env.Dynamic, options(ns)) })
	}
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if !results[i].Equal(results[0]) {
			t.Fatalf("replica %d holds another conversion key than replica 0", i)
		}
	}
	if !bytes.Equal(results[0].CertPEM, valid.CertPEM) || !bytes.Equal(results[0].CABundle, valid.CABundle) {
		t.Error("adding the conversion key replaced the certificates")
	}
	checkStored(t, ns, results[0])
}

// The conversion key of external certificates: three replicas starting
// together end up with one key, stored once; a later start reads it; a
// Secret with a damaged key is an error naming the fix, never replaced.
func TestEnsureConversionKey(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	name := certs.KeySecretName(secretName)
	const replicas = 3
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		keys  [replicas][]byte
		errs  [replicas]error
	)
	client := &racing{Interface: env.Dynamic}
	for i := range replicas {
		wg.Go(func() {
			<-start
			keys[i], errs[i] = certs.EnsureConversionKey(ctx, client, ns, name)
		})
	}
	close(start)
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) || len(keys[i]) != certs.ConversionKeyBytes {
			t.Fatalf("replica %d got another key (%d bytes) than replica 0", i, len(keys[i]))
		}
	}
	if n := client.creates.Load(); n < 1 || n > replicas {
		t.Errorf("%d creates", n)
	}
	s, err := env.Clientset.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Data[certs.KeyConversion], keys[0]) || s.Labels[policy.ProtectionLabel] != "true" || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("stored Secret: type %s, labels %v, key matches %v", s.Type, s.Labels, bytes.Equal(s.Data[certs.KeyConversion], keys[0]))
	}
	again, err := certs.EnsureConversionKey(ctx, env.Dynamic, ns, name)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Errorf("a later start: %v, same key %v", err, bytes.Equal(again, keys[0]))
	}

	s.Data[certs.KeyConversion] = []byte("short")
	if _, err := env.Clientset.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.EnsureConversionKey(ctx, env.Dynamic, ns, name); err == nil || !strings.Contains(err.Error(), "delete the Secret") {
		t.Errorf("a damaged key: %v", err)
	}
	s, _ = env.Clientset.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if string(s.Data[certs.KeyConversion]) != "short" {
		t.Error("the damaged key was replaced")
	}
}
