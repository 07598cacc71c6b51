package certs

import (
	"crypto/rand"
	"fmt"
	"os"
)

// KeyConversion is the Secret data key of the conversion key: random bytes,
// shared by every replica, that authenticate the preserved-fields
// annotation the conversion webhook writes on converted objects (an HMAC
// keyed by it). It is independent of the certificates: generated with the
// Secret, it is kept by every rotation and repair, so annotations already
// stored keep verifying after a CA rotation.
const KeyConversion = "conversion.key"

// ConversionKeyBytes is the size of a generated conversion key.
const ConversionKeyBytes = 32

// Bounds of a usable conversion key: at least as long as the HMAC-SHA256
// output, and small enough to sit in a Secret beside the certificates.
const (
	MinConversionKeyBytes = 32
	MaxConversionKeyBytes = 4096
)

// NewConversionKey returns a fresh random conversion key.
func NewConversionKey() ([]byte, error) {
	k := make([]byte, ConversionKeyBytes)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generating the conversion key: %w", err)
	}
	return k, nil
}

// checkConversionKey says why k cannot be a conversion key; nil if it can.
func checkConversionKey(k []byte) error {
	switch {
	case len(k) < MinConversionKeyBytes:
		return fmt.Errorf("%d bytes, fewer than %d", len(k), MinConversionKeyBytes)
	case len(k) > MaxConversionKeyBytes:
		return fmt.Errorf("%d bytes, more than %d", len(k), MaxConversionKeyBytes)
	}
	return nil
}

// ReadConversionKeyFile reads the conversion key of external certificates
// (CONVERSION_KEY_FILE): the file's bytes as they are, at least
// MinConversionKeyBytes of them. Every replica must read the same file.
func ReadConversionKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("conversion key file: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > MaxConversionKeyBytes {
		return nil, fmt.Errorf("conversion key file %s: not a regular file of at most %d bytes", path, MaxConversionKeyBytes)
	}
	k, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("conversion key file: %w", err)
	}
	if err := checkConversionKey(k); err != nil {
		return nil, fmt.Errorf("conversion key file %s: %v; write at least %d random bytes (e.g. head -c 32 /dev/urandom)", path, err, MinConversionKeyBytes)
	}
	return k, nil
}

// withConversionKey returns m holding a conversion key: m itself when it
// has one, else a copy with a fresh key.
func (m *Material) withConversionKey() (*Material, error) {
	if m.ConversionKey != nil {
		return m, nil
	}
	k, err := NewConversionKey()
	if err != nil {
		return nil, err
	}
	cp := *m
	cp.ConversionKey = k
	return &cp, nil
}
