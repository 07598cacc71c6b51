package certs

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary Secret data to Parse and Verify. The seed corpus
// (testdata/fuzz/FuzzParse) holds valid material, a rotation bundle, an RSA
// pair, SEC 1 keys, and cut or mixed-up variants.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, cert, key, ca, caKey []byte) {
		data := map[string][]byte{KeyCert: cert, KeyKey: key, KeyCA: ca, KeyCAKey: caKey}
		m, err := Parse(data)
		if err != nil {
			checkReason(t, err)
			return
		}
		if m.Certificate == nil || m.Leaf() == nil || len(m.CAs) == 0 {
			t.Fatal("Parse succeeded with parts missing")
		}
		for _, at := range []time.Time{m.Leaf().NotBefore, m.Leaf().NotAfter, time.Time{}} {
			if err := m.Verify(at, []string{"gw", "127.0.0.1", "::1"}); err != nil {
				checkReason(t, err)
			}
		}
		again, err := Parse(m.Data())
		if err != nil || !again.Equal(m) {
			t.Fatalf("Parse(m.Data()) = %v: material does not round-trip", err)
		}
		if _, err := NewHolder(m); err != nil {
			t.Fatalf("parsed material cannot be held: %v", err)
		}
	})
}

// checkReason asserts err is an *invalidError with one of the known reasons.
func checkReason(t *testing.T, err error) {
	t.Helper()
	if !isInvalid(err) || err.Error() == "" {
		t.Fatalf("error %v (%T) is not an *InvalidError", err, err)
	}
	for _, r := range []error{ErrIncomplete, ErrMalformed, ErrExpired, ErrUntrusted, ErrWrongHosts} {
		if errors.Is(err, r) {
			return
		}
	}
	t.Fatalf("error %v has no known reason", err)
}
