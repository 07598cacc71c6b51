package certs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes m's pair as the kubelet updates a mounted Secret: new
// files renamed into place.
func writePair(t *testing.T, dir string, certPEM, keyPEM []byte) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeAtomic(t, certFile, certPEM)
	writeAtomic(t, keyFile, keyPEM)
	return certFile, keyFile
}

func writeAtomic(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func serving(t *testing.T, h *Holder) *Material {
	t.Helper()
	c, err := h.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Material{Certificate: c}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	a := generate(t, testHosts, time.Now(), time.Hour)
	b := generate(t, testHosts, time.Now(), time.Hour)
	c := generate(t, testHosts, time.Now(), time.Hour)
	certFile, keyFile := writePair(t, dir, a.CertPEM, a.KeyPEM)

	f, err := FromFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !serving(t, f.Holder).Leaf().Equal(a.Leaf()) {
		t.Fatal("not serving the files' certificate")
	}
	if f.CABundle() != nil {
		t.Error("external certificates have a caBundle: the user owns it")
	}
	if changed, err := f.reload(); changed || err != nil {
		t.Fatalf("Reload of unchanged files = %v, %v", changed, err)
	}

	// Rewritten with the same content: not a change.
	writePair(t, dir, a.CertPEM, a.KeyPEM)
	if changed, err := f.reload(); changed || err != nil {
		t.Fatalf("Reload of rewritten, identical files = %v, %v", changed, err)
	}

	writePair(t, dir, b.CertPEM, b.KeyPEM)
	if changed, err := f.reload(); !changed || err != nil {
		t.Fatalf("Reload after a change = %v, %v", changed, err)
	}
	if !serving(t, f.Holder).Leaf().Equal(b.Leaf()) {
		t.Fatal("not serving the new certificate")
	}

	// Half-way through an update (new certificate, old key): keep b, and
	// pick the pair up once the key follows.
	writeAtomic(t, certFile, c.CertPEM)
	_, err = f.reload()
	if err == nil || !strings.Contains(err.Error(), keyFile+": malformed: does not match the serving certificate") {
		t.Fatalf("Reload of a mismatched pair: %v", err)
	}
	if !serving(t, f.Holder).Leaf().Equal(b.Leaf()) {
		t.Fatal("a failed reload replaced the served certificate")
	}
	writeAtomic(t, keyFile, c.KeyPEM)
	if changed, err := f.reload(); !changed || err != nil {
		t.Fatalf("Reload after the key followed = %v, %v", changed, err)
	}
	if !serving(t, f.Holder).Leaf().Equal(c.Leaf()) {
		t.Fatal("not serving the completed pair")
	}

	// Rewritten in place, same size: the modification time tells.
	if err := os.WriteFile(certFile, a.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, a.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	_ = os.Chtimes(certFile, later, later)
	_ = os.Chtimes(keyFile, later, later)
	if changed, err := f.reload(); !changed || err != nil {
		t.Fatalf("Reload after an in-place rewrite = %v, %v", changed, err)
	}
}

func TestFromFilesErrors(t *testing.T) {
	dir := t.TempDir()
	m := generate(t, testHosts, time.Now(), time.Hour)
	certFile, keyFile := writePair(t, dir, m.CertPEM, m.KeyPEM)
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}

	_, err := FromFiles(filepath.Join(dir, "absent.crt"), keyFile)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "absent.crt") {
		t.Errorf("missing certificate file: %v", err)
	}
	_, err = FromFiles(garbage, keyFile)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), garbage+": malformed: no PEM data") {
		t.Errorf("garbage certificate file: %v", err)
	}
	_, err = FromFiles(certFile, certFile)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), certFile+`: malformed: PEM block has type "CERTIFICATE"`) {
		t.Errorf("certificate given as the key: %v", err)
	}
}

func TestFilesWatch(t *testing.T) {
	dir := t.TempDir()
	a := generate(t, testHosts, time.Now(), time.Hour)
	b := generate(t, testHosts, time.Now(), time.Hour)
	certFile, keyFile := writePair(t, dir, a.CertPEM, a.KeyPEM)
	f, err := FromFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.Watch(ctx, 5*time.Millisecond)
		close(done)
	}()

	writePair(t, dir, b.CertPEM, b.KeyPEM)
	deadline := time.Now().Add(5 * time.Second)
	for !serving(t, f.Holder).Leaf().Equal(b.Leaf()) {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up the new pair within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}
