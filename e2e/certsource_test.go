package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func init() {
	bundleResources["Issuer"] = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}
	bundleResources["Certificate"] = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
}

// testCA stands in for an issuer: a CA that signs serving certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test issuer CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a serving certificate for hosts, as cert-manager's CA issuer
// does, and returns it with its key (PEM) and the leaf.
func (ca *testCA) issue(t *testing.T, hosts []string) (certPEM, keyPEM []byte, leaf *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(12 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), leaf
}

// katalogObjects are the webhook configurations of a Katalog and the
// conversion CRD of the bundle tests, as the API server holds them.
func katalogObjects(t *testing.T, katalog string) []*unstructured.Unstructured {
	t.Helper()
	ctx := context.Background()
	var out []*unstructured.Unstructured
	for _, gvr := range []schema.GroupVersionResource{validatingGVR, mutatingGVR} {
		list, err := env.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: katalogLabel + "=" + katalog})
		if err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
	}
	crd, err := env.Dynamic.Resource(crdGVR).Get(ctx, "sprockets.bundle.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, crd)
}

// caBundles returns the caBundle of every webhook (or of the CRD's
// conversion webhook) of an object.
func caBundles(o *unstructured.Unstructured) []string {
	if o.GetKind() == "CustomResourceDefinition" {
		s, _, _ := unstructured.NestedString(o.Object, "spec", "conversion", "webhook", "clientConfig", "caBundle")
		return []string{s}
	}
	var out []string
	hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
	for _, h := range hooks {
		s, _, _ := unstructured.NestedString(h.(map[string]any), "clientConfig", "caBundle")
		out = append(out, s)
	}
	return out
}

// setCABundles writes ca into every caBundle of the objects, as
// cert-manager's CA injector (or a user) does.
func setCABundles(t *testing.T, objs []*unstructured.Unstructured, ca []byte) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		o = o.DeepCopy()
		gvr := map[string]schema.GroupVersionResource{"ValidatingWebhookConfiguration": validatingGVR, "MutatingWebhookConfiguration": mutatingGVR, "CustomResourceDefinition": crdGVR}[o.GetKind()]
		if o.GetKind() == "CustomResourceDefinition" {
			_ = unstructured.SetNestedField(o.Object, encodeBase64(ca), "spec", "conversion", "webhook", "clientConfig", "caBundle")
		} else {
			hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
			for _, h := range hooks {
				_ = unstructured.SetNestedField(h.(map[string]any), encodeBase64(ca), "clientConfig", "caBundle")
			}
			_ = unstructured.SetNestedSlice(o.Object, hooks, "webhooks")
		}
		if _, err := env.Dynamic.Resource(gvr).Update(ctx, o, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("setting the caBundle of %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// TestBundleCertSource installs the bundle of a Katalog whose certificate
// comes from cert-manager, or from files the user mounts, and runs the
// gateway under it with exactly its RBAC (no permission on Secrets). The
// issuer is simulated: the test writes the Secret the Certificate names and
// plays cert-manager's CA injector (or the user) on the caBundles. The
// gateway serves the mounted certificate, picks up a renewed one without a
// restart, annotates what it registers for the injector (cert-manager only),
// and never writes a caBundle.
func TestBundleCertSource(t *testing.T) {
	removeOtherRegistrations(t, "")
	ensureWidgetCRD(t)
	ensureSprocketCRD(t)
	ensureNamespace(t, "bundle-apps", nil)
	applyCRD(t, readTestdata(t, "cert-manager-issuer-crd.yaml"))
	applyCRD(t, readTestdata(t, "cert-manager-certificate-crd.yaml"))
	for _, source := range []policy.CertSource{policy.CertsCertManager, policy.CertsFiles} {
		t.Run(string(source), func(t *testing.T) {
			removeOtherRegistrations(t, "")
			// The conversion CRD as created: no webhook, no injection.
			reset := []byte(`{"metadata":{"annotations":{"` + policy.CAInjectionAnnotation + `":null}},"spec":{"conversion":{"strategy":"None","webhook":null}}}`)
			if _, err := env.Dynamic.Resource(crdGVR).Patch(context.Background(), "sprockets.bundle.example.com", types.MergePatchType, reset, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			testCertSource(t, source)
		})
	}
}

func testCertSource(t *testing.T, source policy.CertSource) {
	ctx := context.Background()
	name := "bcs-" + string(source)
	text := strings.Replace(readTestdata(t, "bundle-katalog.yaml"), "\nsecurity:\n", "\nsecurity:\n  certManager:\n    source: "+string(source)+"\n", 1)
	c := newBundleCaseOf(t, name, name, true, text)
	secret := c.src.Policy.Certs.SecretName

	// What the bundle holds for this source.
	var kinds []string
	for _, o := range c.b.Objects {
		kinds = append(kinds, o.Kind)
	}
	issuers := slices.Contains(kinds, "Certificate")
	if issuers != (source == policy.CertsCertManager) {
		t.Errorf("objects %v: cert-manager objects present %v with source %s", kinds, issuers, source)
	}
	// The only Secret the gateway touches is the one holding the key that
	// seals the conversion annotation (the Katalog converts sprockets).
	keySecret := certs.KeySecretName(secret)
	for _, r := range c.rules(t, "Role") {
		if !slices.Contains(r.Resources, "secrets") {
			continue
		}
		create := slices.Equal(r.Verbs, []string{"create"}) && len(r.ResourceNames) == 0
		get := slices.Equal(r.Verbs, []string{"get"}) && slices.Equal(r.ResourceNames, []string{keySecret})
		if !create && !get {
			t.Errorf("the Role grants %v on Secrets %v; with source %s the gateway reads only its conversion key Secret %s", r.Verbs, r.ResourceNames, source, keySecret)
		}
	}
	c.install(t, "", -1)
	c.waitRBAC(t, "", -1)

	// The issuer writes the Secret the Deployment mounts.
	ca := newTestCA(t)
	hosts := []string{"127.0.0.1", c.src.Policy.Gateway.ServiceName + "." + c.namespace + ".svc"}
	crt, key, leaf := ca.issue(t, hosts)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: c.namespace}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": ca.pem}}
	if _, err := env.Clientset.CoreV1().Secrets(c.namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	g := c.start(t, false, "--sync-interval", "1s")
	eventually(t, 30*time.Second, "the configurations registered", func() error {
		if n := len(katalogRegistrations(t, name)); n != 5 {
			return fmt.Errorf("%d of 5 registered", n)
		}
		return nil
	})
	keySec, err := env.Clientset.CoreV1().Secrets(c.namespace).Get(ctx, keySecret, metav1.GetOptions{})
	if err != nil || len(keySec.Data[certs.KeyConversion]) != certs.ConversionKeyBytes {
		t.Errorf("the conversion key Secret %s: %v", keySecret, err)
	}
	objs := katalogObjects(t, name)
	eventually(t, 30*time.Second, "the CRD's conversion pointed at the gateway", func() error {
		objs = katalogObjects(t, name)
		u, _, _ := unstructured.NestedString(objs[len(objs)-1].Object, "spec", "conversion", "webhook", "clientConfig", "url")
		if !strings.Contains(u, fmt.Sprint(c.ports.webhookPort)) {
			return fmt.Errorf("conversion URL %q", u)
		}
		return nil
	})
	wantAnnotation := ""
	if source == policy.CertsCertManager {
		wantAnnotation = c.namespace + "/" + secret
	}
	for _, o := range objs {
		if got := o.GetAnnotations()[policy.CAInjectionAnnotation]; got != wantAnnotation {
			t.Errorf("%s %s: %s = %q, want %q", o.GetKind(), o.GetName(), policy.CAInjectionAnnotation, got, wantAnnotation)
		}
		for _, b := range caBundles(o) {
			if b != "" {
				t.Errorf("%s %s: the gateway wrote a caBundle", o.GetKind(), o.GetName())
			}
		}
	}
	// Not ready while no caBundle trusts what it serves.
	eventually(t, 10*time.Second, "not ready before the caBundles are set", func() error {
		// /readyz names the reason; the log says which caBundle.
		if code, body := g.probe("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "certificate trust not confirmed") ||
			!strings.Contains(g.proc.Logs(), "does not trust the served certificate") {
			return fmt.Errorf("/readyz %d %s", code, body)
		}
		return nil
	})

	// cert-manager's CA injector (or the user) sets the caBundles.
	setCABundles(t, objs, ca.pem)
	if err := g.waitReady(20 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, g.proc.Logs())
	}
	chain, err := served(g)
	if err != nil || !chain[0].Equal(leaf) {
		t.Fatalf("serving %v, %v; want the mounted certificate", chain, err)
	}
	// The API server calls the gateway with the injected CA.
	mustCreateCM(t, "bundle-apps", name+"-guarded", protected)
	cms := env.Clientset.CoreV1().ConfigMaps("bundle-apps")
	eventually(t, 20*time.Second, "a protected delete denied", func() error {
		if err := cms.Delete(ctx, name+"-guarded", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); !isForbidden(err) {
			return fmt.Errorf("want Forbidden, got %v", err)
		}
		return nil
	})

	// Renewal: the issuer writes a new certificate of the same CA; the
	// kubelet updates the mounted files.
	versions := map[string]string{}
	for _, o := range katalogObjects(t, name) {
		versions[o.GetKind()+" "+o.GetName()] = o.GetResourceVersion()
	}
	pid := g.proc.PID()
	crt2, key2, leaf2 := ca.issue(t, hosts)
	s.Data["tls.crt"], s.Data["tls.key"] = crt2, key2
	if _, err := env.Clientset.CoreV1().Secrets(c.namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	files := c.secretFiles(t, c.deployment(t).Spec.Template.Spec)
	for path := range files {
		if err := g.proc.WriteFile(path, files[path]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "the renewed certificate served", func() error {
		chain, err := served(g)
		if err != nil {
			return err
		}
		if !chain[0].Equal(leaf2) {
			return fmt.Errorf("still serving serial %s", chain[0].SerialNumber)
		}
		return nil
	})
	if exited(g.proc) || g.proc.PID() != pid {
		t.Fatal("the gateway restarted to load the renewed certificate")
	}
	if code, body := g.probe("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the renewal: %d %s", code, body)
	}
	time.Sleep(2500 * time.Millisecond) // a few ticks: the caBundles are not the gateway's
	for _, o := range katalogObjects(t, name) {
		k := o.GetKind() + " " + o.GetName()
		if o.GetResourceVersion() != versions[k] {
			t.Errorf("the gateway wrote %s (resourceVersion %s -> %s), whose caBundle is not its own", k, versions[k], o.GetResourceVersion())
		}
	}
	if err := cms.Delete(ctx, name+"-guarded", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); !isForbidden(err) {
		t.Errorf("a protected delete after the renewal: want Forbidden, got %v", err)
	}

	// Uninstall: the last replica removes its registrations.
	if err := g.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := g.proc.Wait(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit %d, %v\n%s", code, err, g.proc.Logs())
	}
	if regs := katalogRegistrations(t, name); len(regs) != 0 {
		t.Errorf("left registered after SIGTERM: %v", regs)
	}
	if err := cms.Delete(ctx, name+"-guarded", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting the ConfigMap after uninstall: %v", err)
	}
}
