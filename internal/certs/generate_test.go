package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// testNow has no sub-second part: certificates store whole seconds.
var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func generate(t testing.TB, hosts []string, now time.Time, validFor time.Duration) *Material {
	t.Helper()
	m, err := Generate(hosts, now, validFor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHosts(t *testing.T) {
	svc := []string{"gw", "gw.ns", "gw.ns.svc", "gw.ns.svc.cluster.local"}
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"", svc},
		{"https://gw.example.com:8443/base", append(slices.Clone(svc), "gw.example.com")},
		{"https://10.0.0.7:9443", append(slices.Clone(svc), "10.0.0.7")},
		{"https://[fd00::1]:9443", append(slices.Clone(svc), "fd00::1")},
		{"https://gw.ns.svc:443", svc}, // already covered: no duplicate
	} {
		var u *url.URL
		if tc.url != "" {
			u = mustURL(t, tc.url)
		}
		if got := Hosts("gw", "ns", u); !slices.Equal(got, tc.want) {
			t.Errorf("Hosts(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestGenerate(t *testing.T) {
	hosts := Hosts("orkestra-gateway", "orkestra-system", mustURL(t, "https://10.1.2.3:8443"))
	const validFor = 24 * time.Hour
	m := generate(t, hosts, testNow, validFor)

	if len(m.CAs) != 1 {
		t.Fatalf("ca.crt holds %d certificates, want 1", len(m.CAs))
	}
	ca, leaf := m.CAs[0], m.Leaf()
	for name, pub := range map[string]any{"CA": ca.PublicKey, "serving": leaf.PublicKey} {
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			t.Errorf("%s key is %T, want ECDSA P-256", name, pub)
		}
	}
	if _, ok := m.Certificate.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("serving private key is %T", m.Certificate.PrivateKey)
	}

	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v, key usage %b", ca.IsCA, ca.KeyUsage)
	}
	if !strings.HasPrefix(ca.Subject.CommonName, caCommonName) {
		t.Errorf("CA CommonName %q", ca.Subject.CommonName)
	}
	if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("serving certificate: IsCA %v, ext key usage %v", leaf.IsCA, leaf.ExtKeyUsage)
	}
	for _, c := range []*x509.Certificate{ca, leaf} {
		if !c.NotBefore.Equal(testNow.Add(-clockSkew)) || !c.NotAfter.Equal(testNow.Add(validFor)) {
			t.Errorf("%s valid %s to %s, want %s to %s", c.Subject.CommonName, c.NotBefore, c.NotAfter, testNow.Add(-clockSkew), testNow.Add(validFor))
		}
	}
	if want := hosts[:4]; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNS SANs %q, want %q", leaf.DNSNames, want)
	}
	if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "10.1.2.3" {
		t.Errorf("IP SANs %v, want [10.1.2.3]", leaf.IPAddresses)
	}

	// Every host verifies against a pool built from ca.crt alone.
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(m.CABundle) {
		t.Fatal("ca.crt does not load into a pool")
	}
	verify := func(host string, at time.Time) error {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: at})
		return err
	}
	for _, h := range hosts {
		if err := verify(h, testNow); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if err := verify("other.example.com", testNow); err == nil {
		t.Error("verifies for a host it was not issued for")
	}
	// Backdated for clock skew, expired after validFor.
	if err := verify(hosts[0], testNow.Add(-clockSkew+time.Second)); err != nil {
		t.Errorf("not valid within the clock skew: %v", err)
	}
	if err := verify(hosts[0], testNow.Add(validFor+time.Second)); err == nil {
		t.Error("still valid after validFor")
	}

	// Fresh keys and serials each time.
	m2 := generate(t, hosts, testNow, validFor)
	if m2.Leaf().SerialNumber.Cmp(leaf.SerialNumber) == 0 || m2.CAs[0].SerialNumber.Cmp(ca.SerialNumber) == 0 {
		t.Error("serial numbers repeat")
	}
	if m2.Leaf().PublicKey.(*ecdsa.PublicKey).Equal(leaf.PublicKey) {
		t.Error("keys repeat")
	}
	if leaf.SerialNumber.Sign() <= 0 {
		t.Error("serial number not positive")
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hosts    []string
		validFor time.Duration
		want     string
	}{
		{"zero validity", []string{"a"}, 0, "validity must be positive"},
		{"negative validity", []string{"a"}, -time.Hour, "validity must be positive"},
		{"no hosts", nil, time.Hour, "at least one host"},
		{"empty host", []string{"a", ""}, time.Hour, "empty host name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(tc.hosts, testNow, tc.validFor)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if isInvalid(err) {
				t.Errorf("a generation error is not an invalid-Secret error: %v", err)
			}
		})
	}
}

// A serving certificate never outlives the CA that signed it.
func TestIssueCappedByCA(t *testing.T) {
	c, err := newCA(testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := c.issue([]string{"a"}, testNow.Add(30*time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !certs[0].NotAfter.Equal(c.cert.NotAfter) {
		t.Fatalf("serving certificate expires %s, CA %s", certs[0].NotAfter, c.cert.NotAfter)
	}
}
