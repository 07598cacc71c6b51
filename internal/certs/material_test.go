package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testHosts = []string{"gw", "gw.ns", "gw.ns.svc", "gw.ns.svc.cluster.local", "127.0.0.1"}

func checkInvalid(t *testing.T, err error, reason error, key, detail string) {
	t.Helper()
	var ie *invalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want an *InvalidError", err, err)
	}
	if !errors.Is(err, reason) || ie.Key != key || !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q: want reason %q, key %q and text %q", err, reason, key, detail)
	}
	if !isInvalid(err) {
		t.Fatal("IsInvalid is false")
	}
}

func TestParseErrors(t *testing.T) {
	base := generate(t, testHosts, testNow, time.Hour).Data()
	other := generate(t, testHosts, testNow, time.Hour).Data()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

	for _, tc := range []struct {
		name   string
		change map[string][]byte // nil value: delete the key
		reason error
		key    string
		detail string
	}{
		{"missing keys", map[string][]byte{KeyCert: nil, KeyCAKey: nil}, ErrIncomplete, "", "missing or empty tls.crt, ca.key"},
		{"empty key", map[string][]byte{KeyKey: {}}, ErrIncomplete, "", "missing or empty tls.key"},
		{"cert not PEM", map[string][]byte{KeyCert: []byte("hello")}, ErrMalformed, KeyCert, "no PEM data"},
		{"cert cut short", map[string][]byte{KeyCert: base[KeyCert][:len(base[KeyCert])/2]}, ErrMalformed, KeyCert, "no PEM data"},
		{"cert trailing junk", map[string][]byte{KeyCert: cat(base[KeyCert], []byte("junk\n"))}, ErrMalformed, KeyCert, "undecodable data after PEM block 1"},
		{"cert second block cut", map[string][]byte{KeyCert: cat(base[KeyCert], base[KeyCA][:40])}, ErrMalformed, KeyCert, "undecodable data after PEM block 1"},
		{"key in cert", map[string][]byte{KeyCert: base[KeyKey]}, ErrMalformed, KeyCert, `PEM block 1 has type "PRIVATE KEY", want CERTIFICATE`},
		{"cert bad DER", map[string][]byte{KeyCert: block("CERTIFICATE", []byte{1, 2, 3})}, ErrMalformed, KeyCert, "certificate 1: x509:"},
		{"key not PEM", map[string][]byte{KeyKey: []byte("secret")}, ErrMalformed, KeyKey, "no PEM data"},
		{"cert in key", map[string][]byte{KeyKey: base[KeyCert]}, ErrMalformed, KeyKey, `PEM block has type "CERTIFICATE", want PRIVATE KEY`},
		{"two keys", map[string][]byte{KeyKey: cat(base[KeyKey], base[KeyKey])}, ErrMalformed, KeyKey, "2 PEM blocks, want exactly one private key"},
		{"key bad DER", map[string][]byte{KeyKey: block("PRIVATE KEY", []byte{1, 2, 3})}, ErrMalformed, KeyKey, "private key: asn1:"},
		{"key mismatch", map[string][]byte{KeyKey: other[KeyKey]}, ErrMalformed, KeyKey, "does not match the serving certificate (CN=gw)"},
		{"SEC 1 key mismatch", map[string][]byte{KeyKey: block("EC PRIVATE KEY", sec1)}, ErrMalformed, KeyKey, "does not match the serving certificate"},
		{"CA not PEM", map[string][]byte{KeyCA: []byte("ca")}, ErrMalformed, KeyCA, "no PEM data"},
		{"CA bundle holds a leaf", map[string][]byte{KeyCA: cat(base[KeyCA], base[KeyCert])}, ErrMalformed, KeyCA, "certificate 2 (CN=gw) is not a CA"},
		{"CA key mismatch", map[string][]byte{KeyCAKey: other[KeyCAKey]}, ErrMalformed, KeyCAKey, "does not match the first certificate of ca.crt (CN=orkestra-gateway-ca@"},
		{"CA key is the serving key", map[string][]byte{KeyCAKey: base[KeyKey]}, ErrMalformed, KeyCAKey, "does not match the first certificate of ca.crt"},
		{"CA key garbage", map[string][]byte{KeyCAKey: []byte("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n")}, ErrMalformed, KeyCAKey, "no PEM data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := maps.Clone(base)
			for k, v := range tc.change {
				if v == nil {
					delete(data, k)
				} else {
					data[k] = v
				}
			}
			m, err := Parse(data)
			if m != nil {
				t.Error("material returned with an error")
			}
			checkInvalid(t, err, tc.reason, tc.key, tc.detail)
		})
	}
}

// Keys in SEC 1 form (openssl ecparam -genkey) parse as well as PKCS#8.
func TestParseSEC1Key(t *testing.T) {
	m := generate(t, testHosts, testNow, time.Hour)
	der, err := x509.MarshalECPrivateKey(m.Certificate.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	data := m.Data()
	data[KeyKey] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if _, err := Parse(data); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	m := generate(t, testHosts, testNow, time.Hour)
	other := generate(t, testHosts, testNow, time.Hour)

	if err := m.Verify(testNow, testHosts); err != nil {
		t.Fatalf("fresh material: %v", err)
	}
	if err := m.Verify(testNow.Add(-clockSkew), testHosts); err != nil {
		t.Fatalf("within the clock skew: %v", err)
	}
	t.Run("expired", func(t *testing.T) {
		checkInvalid(t, m.Verify(testNow.Add(time.Hour), testHosts), ErrExpired, KeyCert, "CN=gw expired at 2026-11-27T11:00:00Z")
	})
	t.Run("not yet valid", func(t *testing.T) {
		checkInvalid(t, m.Verify(testNow.Add(-clockSkew-time.Second), testHosts), ErrExpired, KeyCert, "CN=gw is not valid before 2026-11-27T09:55:00Z")
	})
	t.Run("wrong hosts", func(t *testing.T) {
		hosts := append(testHosts, "gw.example.com", "10.0.0.1")
		checkInvalid(t, m.Verify(testNow, hosts), ErrWrongHosts, KeyCert, "CN=gw does not cover gw.example.com, 10.0.0.1")
	})
	t.Run("untrusted", func(t *testing.T) {
		data := m.Data()
		data[KeyCA], data[KeyCAKey] = other.CABundle, other.CAKeyPEM
		u, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		checkInvalid(t, u.Verify(testNow, testHosts), ErrUntrusted, KeyCert, "CN=gw does not chain to a CA in ca.crt")
	})
	t.Run("no CAs", func(t *testing.T) {
		ext := &Material{CertPEM: m.CertPEM, KeyPEM: m.KeyPEM, Certificate: m.Certificate}
		checkInvalid(t, ext.Verify(testNow, testHosts), ErrIncomplete, KeyCA, "no CA certificates")
	})
	t.Run("CA expired before the serving certificate", func(t *testing.T) {
		c, err := newCA(testNow, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// A serving certificate outliving its CA (not one Generate makes).
		tmpl := &x509.Certificate{
			SerialNumber: big1(),
			Subject:      pkix.Name{CommonName: "gw"},
			NotBefore:    testNow,
			NotAfter:     testNow.Add(48 * time.Hour),
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:     []string{"gw"},
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, _ := encodeKey(key)
		e, err := Parse(map[string][]byte{KeyCert: encodeCert(der), KeyKey: keyPEM, KeyCA: c.certPEM, KeyCAKey: c.keyPEM})
		if err != nil {
			t.Fatal(err)
		}
		checkInvalid(t, e.Verify(testNow.Add(2*time.Hour), []string{"gw"}), ErrExpired, KeyCA, "the chain of CN=gw")
	})
	t.Run("rotation bundle", func(t *testing.T) {
		// The serving certificate chains to an older CA later in ca.crt,
		// as during a rotation; ca.key matches the first (newest) CA.
		data := m.Data()
		data[KeyCA] = append(append([]byte(nil), other.CABundle...), m.CABundle...)
		data[KeyCAKey] = other.CAKeyPEM
		b, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.CAs) != 2 {
			t.Fatalf("%d CAs, want 2", len(b.CAs))
		}
		if err := b.Verify(testNow, testHosts); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseSecret(t *testing.T) {
	m := generate(t, testHosts, testNow, time.Hour)
	s := &Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tls", ResourceVersion: "42"},
		Type:       secretTypeTLS,
		Data:       m.Data(),
	}
	got, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(m) || got.ResourceVersion != "42" {
		t.Fatalf("parsed material differs (resourceVersion %q)", got.ResourceVersion)
	}

	s.Type = "Opaque"
	_, err = ParseSecret(s)
	if err == nil || isInvalid(err) || !strings.Contains(err.Error(), `secret ns/tls has type "Opaque", want "kubernetes.io/tls"`) {
		t.Fatalf("error %v, want a wrong-type error that is not replaceable", err)
	}
}

func big1() *big.Int { return big.NewInt(1) }
