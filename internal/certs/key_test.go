package certs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The conversion key is generated with the Secret and survives everything
// the Rotator does to it: rotations, restores, replacements, foreign
// material, a removed or damaged key. Annotations it authenticated must
// keep verifying.
func TestConversionKeyKept(t *testing.T) {
	c := &clock{now: testNow}
	client := fakeClient(t)
	r := newRotator(t, client, rotatorOptions(c))
	key := r.ConversionKey()
	if len(key) != ConversionKeyBytes {
		t.Fatalf("the new Secret's conversion key has %d bytes, want %d", len(key), ConversionKeyBytes)
	}
	if got := stored(t, client).ConversionKey; !bytes.Equal(got, key) {
		t.Fatal("the key served is not the stored one")
	}
	s := newStore(client, "ns", "tls")
	check := func(what string) {
		t.Helper()
		if got := stored(t, client).ConversionKey; !bytes.Equal(got, key) {
			t.Errorf("%s: the stored conversion key changed", what)
		}
		if !bytes.Equal(r.ConversionKey(), key) {
			t.Errorf("%s: the replica's conversion key changed", what)
		}
	}

	c.advance(11 * time.Second)
	syncWant(t, r, Rotated)
	check("rotation")

	if err := client.Resource(secretsGVR).Namespace("ns").Delete(context.Background(), "tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	syncWant(t, r, Restored)
	check("deleted Secret restored")

	// The key entry removed (an apply of a Secret manifest without it), then
	// a key too short to be one: the replica's key is written back, the
	// certificates untouched.
	for _, k := range [][]byte{nil, []byte("short")} {
		sec, err := s.get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		before := stored(t, client)
		if k == nil {
			delete(sec.Data, KeyConversion)
		} else {
			sec.Data[KeyConversion] = k
		}
		u, _ := toUnstructured(sec)
		if _, err := client.Resource(secretsGVR).Namespace("ns").Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		res := syncWant(t, r, AddedKey)
		if !strings.Contains(res.Reason, KeyConversion) {
			t.Errorf("reason %q does not name %s", res.Reason, KeyConversion)
		}
		after := stored(t, client)
		if !bytes.Equal(after.CertPEM, before.CertPEM) || !bytes.Equal(after.CABundle, before.CABundle) {
			t.Error("adding the key changed the certificates")
		}
		check("key removed or damaged")
		syncWant(t, r, "")
	}

	// Foreign material without a key: the replica's key is added with the CA.
	foreign := generate(t, testHosts, c.now, 2*time.Hour)
	sec, _ := s.get(context.Background())
	if _, err := s.update(context.Background(), sec, foreign); err != nil {
		t.Fatal(err)
	}
	syncWant(t, r, AddedCA)
	check("foreign material")

	// Past the threshold and deleted: replaced by new certificates, same key.
	c.advance(time.Minute)
	if err := client.Resource(secretsGVR).Namespace("ns").Delete(context.Background(), "tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	syncWant(t, r, Replaced)
	check("replacement")
}

// Ensure adds a key to a valid Secret without one, keeps the key of an
// invalid Secret it replaces, and generates one with a new Secret.
func TestEnsureConversionKey(t *testing.T) {
	ctx := context.Background()
	m := generate(t, testHosts, time.Now(), time.Hour)
	client := fakeClient(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tls", Labels: Labels()}, Type: corev1.SecretTypeTLS, Data: m.Data()})
	got, err := Ensure(ctx, client, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ConversionKey) != ConversionKeyBytes || !bytes.Equal(got.CertPEM, m.CertPEM) {
		t.Fatalf("a valid Secret without a key: key %d bytes, certificate kept %v", len(got.ConversionKey), bytes.Equal(got.CertPEM, m.CertPEM))
	}

	key := bytes.Repeat([]byte{7}, 40)
	data := map[string][]byte{KeyCert: []byte("garbage"), KeyConversion: key}
	client = fakeClient(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tls", Labels: Labels()}, Type: corev1.SecretTypeTLS, Data: data})
	if got, err = Ensure(ctx, client, testOptions()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.ConversionKey, key) {
		t.Error("replacing an invalid Secret lost its conversion key")
	}
}

func TestParseConversionKey(t *testing.T) {
	m := generate(t, testHosts, time.Now(), time.Hour)
	for _, tc := range []struct {
		key  []byte
		want bool
	}{{nil, false}, {make([]byte, MinConversionKeyBytes-1), false}, {make([]byte, MinConversionKeyBytes), true}, {make([]byte, MaxConversionKeyBytes+1), false}} {
		d := m.Data()
		if tc.key != nil {
			d[KeyConversion] = tc.key
		}
		p, err := Parse(d)
		if err != nil {
			t.Fatalf("%d-byte key: %v (a key never makes the certificates invalid)", len(tc.key), err)
		}
		if (p.ConversionKey != nil) != tc.want {
			t.Errorf("%d-byte key: kept %v, want %v", len(tc.key), p.ConversionKey != nil, tc.want)
		}
		if tc.want && !bytes.Equal(p.Data()[KeyConversion], tc.key) {
			t.Errorf("Data does not hold the key")
		}
	}
}

func TestReadConversionKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := bytes.Repeat([]byte("k"), 44)
	if k, err := ReadConversionKeyFile(write("good", good)); err != nil || !bytes.Equal(k, good) {
		t.Errorf("a 44-byte file: %q, %v", k, err)
	}
	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"short":   {write("short", []byte("0123456789")), "10 bytes, fewer than 32"},
		"large":   {write("large", make([]byte, MaxConversionKeyBytes+1)), "not a regular file of at most 4096 bytes"},
		"missing": {filepath.Join(dir, "none"), "no such file"},
		"dir":     {dir, "not a regular file"},
	} {
		if _, err := ReadConversionKeyFile(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}
