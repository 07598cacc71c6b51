package certs

import (
	"bytes"
	"crypto/x509"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	m := generate(t, testHosts, testNow, 2*time.Hour)
	for _, tc := range []struct {
		at        time.Duration // after testNow
		threshold time.Duration
		want      bool
	}{
		{0, time.Hour, false},
		{time.Hour - time.Second, time.Hour, false},
		{time.Hour + time.Second, time.Hour, true},
		{10 * time.Second, 2*time.Hour - 10*time.Second, false}, // exactly the threshold left
		{11 * time.Second, 2*time.Hour - 10*time.Second, true},
		{3 * time.Hour, 0, false}, // zero never rotates
	} {
		if got := m.due(testNow.Add(tc.at), tc.threshold); got != tc.want {
			t.Errorf("Due(+%s, %s) = %v, want %v", tc.at, tc.threshold, got, tc.want)
		}
	}
}

// cas returns the CommonNames of ca.crt, to compare bundles readably.
func cas(m *Material) string {
	var names []string
	for _, c := range m.CAs {
		names = append(names, c.Subject.CommonName)
	}
	return strings.Join(names, " ")
}

func caName(at time.Time) string {
	return caCommonName + "@" + strconv.FormatInt(at.Unix(), 10)
}

// Rotations every 10 s, as with validFor 2h and rotationThreshold 1h59m50s:
// ca.crt keeps the CA just superseded, and older ones only while replicas
// may still be swapping (retain) and while they are valid.
func TestRotateRetention(t *testing.T) {
	const validFor = 2 * time.Hour
	t0, t1, t2 := testNow, testNow.Add(10*time.Second), testNow.Add(20*time.Second)
	m1 := generate(t, testHosts, t0, validFor)
	rotate := func(m *Material, at time.Time, retain time.Duration) *Material {
		t.Helper()
		n, err := m.Rotate(testHosts, at, validFor, retain)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Verify(at, testHosts); err != nil {
			t.Fatalf("rotated material does not verify: %v", err)
		}
		if bytes.Equal(n.CAKeyPEM, m.CAKeyPEM) || n.Leaf().Issuer.CommonName != caName(at) {
			t.Fatalf("rotation did not sign with a new CA: issuer %s", n.Leaf().Issuer.CommonName)
		}
		return n
	}
	m2 := rotate(m1, t1, 8*time.Second)
	if got, want := cas(m2), caName(t1)+" "+caName(t0); got != want {
		t.Fatalf("after one rotation ca.crt = %s, want %s", got, want)
	}
	// The certificate served before the rotation is trusted by the new bundle.
	if err := Trusted(m1, []Bundle{{Source: "new", PEM: m2.CABundle}}, t1); err != nil {
		t.Fatal(err)
	}

	// CA t0 was superseded at t1, 10 s before t2: beyond a retention of 8 s.
	if got, want := cas(rotate(m2, t2, 8*time.Second)), caName(t2)+" "+caName(t1); got != want {
		t.Errorf("retain 8s: ca.crt = %s, want %s", got, want)
	}
	// Within a retention of 15 s it stays; with none, every valid CA stays.
	for _, retain := range []time.Duration{15 * time.Second, 0} {
		if got, want := cas(rotate(m2, t2, retain)), caName(t2)+" "+caName(t1)+" "+caName(t0); got != want {
			t.Errorf("retain %s: ca.crt = %s, want %s", retain, got, want)
		}
	}
	// Never beyond validity.
	late := t0.Add(validFor + 5*time.Second) // CA t1 lasts until t0+validFor+10s
	if got, want := cas(rotate(m2, late, 0)), caName(late)+" "+caName(t1); got != want {
		t.Errorf("after CA t0 expired: ca.crt = %s, want %s", got, want)
	}
}

func TestRetainedOrderAndBound(t *testing.T) {
	var old []*x509.Certificate
	for i := range maxCAs + 5 {
		c, err := newCA(testNow.Add(time.Duration(i)*time.Second), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		old = append([]*x509.Certificate{c.cert}, old...) // newest first, as ca.crt
		old = append(old, c.cert)                         // and a duplicate
	}
	newest, err := newCA(testNow.Add(time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := retained(append(old, newest.cert), newest.cert, testNow.Add(2*time.Minute), 0)
	if len(got) != maxCAs-1 {
		t.Fatalf("%d CAs retained, want the bound %d", len(got), maxCAs-1)
	}
	for i, c := range got {
		if bytes.Equal(c.Raw, newest.cert.Raw) {
			t.Fatal("the signing CA is retained as an old one")
		}
		if i > 0 && !c.NotBefore.Before(got[i-1].NotBefore) {
			t.Fatalf("retained CAs are not newest first and unique at %d", i)
		}
	}
}

func TestIssuerAndWithCA(t *testing.T) {
	m := generate(t, testHosts, testNow, time.Hour)
	other := generate(t, testHosts, testNow, time.Hour)
	if got := m.issuer(); got == nil || !bytes.Equal(got.Raw, m.CAs[0].Raw) {
		t.Fatal("Issuer is not the CA that signed the certificate")
	}
	if (&Material{}).issuer() != nil || (&Material{Certificate: other.Certificate}).issuer() != nil {
		t.Fatal("Issuer of material without CAs is not nil")
	}

	same, err := m.withCA(m.CAs[0])
	if err != nil || same != m {
		t.Fatalf("WithCA of a CA already there: %v", err)
	}
	both, err := other.withCA(m.issuer())
	if err != nil {
		t.Fatal(err)
	}
	if len(both.CAs) != 2 || !bytes.Equal(both.CertPEM, other.CertPEM) || !bytes.Equal(both.CAKeyPEM, other.CAKeyPEM) {
		t.Fatal("WithCA changed more than ca.crt")
	}
	if err := Trusted(m, []Bundle{{Source: "x", PEM: both.CABundle}}, testNow); err != nil {
		t.Fatalf("the added CA is not trusted: %v", err)
	}

	full := other
	for len(full.CAs) < maxCAs {
		c, err := newCA(testNow, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if full, err = full.withCA(c.cert); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := full.withCA(m.CAs[0]); err == nil || !strings.Contains(err.Error(), "already holds 32 CAs") {
		t.Fatalf("WithCA past the bound: %v", err)
	}
}

func TestSalvageCAs(t *testing.T) {
	m := generate(t, testHosts, testNow, time.Hour)
	expired := generate(t, testHosts, testNow.Add(-3*time.Hour), time.Hour)
	bundle := append(append(append([]byte(nil), m.CABundle...), expired.CABundle...), m.CertPEM...) // a leaf too
	got := salvageCAs(bundle, testNow)
	if len(got) != 1 || !bytes.Equal(got[0].Raw, m.CAs[0].Raw) {
		t.Fatalf("salvaged %d CAs, want only the valid one", len(got))
	}
	if salvageCAs([]byte("garbage"), testNow) != nil || salvageCAs(nil, testNow) != nil {
		t.Fatal("salvaged CAs from garbage")
	}
}
