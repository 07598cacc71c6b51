package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Secret data keys (see the package documentation for the format).
const (
	KeyCert  = "tls.crt"
	KeyKey   = "tls.key"
	KeyCA    = "ca.crt"
	KeyCAKey = "ca.key"
)

// Reasons a Secret's material is invalid; match them with errors.Is. Every
// invalid Secret is replaced by Ensure.
var (
	ErrIncomplete = errors.New("incomplete")
	ErrMalformed  = errors.New("malformed")
	ErrExpired    = errors.New("expired")
	ErrUntrusted  = errors.New("untrusted")
	ErrWrongHosts = errors.New("wrong hosts")
)

// invalidError says why TLS material cannot be served.
type invalidError struct {
	Key    string // the Secret data key at fault; "" when not one key's
	Reason error  // one of ErrIncomplete, ErrMalformed, ErrExpired, ErrUntrusted, ErrWrongHosts
	Detail string
	Err    error // the underlying error, if any
}

// Error formats e as key: reason: detail: underlying error, leaving out
// what is empty.
func (e *invalidError) Error() string {
	var b strings.Builder
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Reason.Error())
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason and the underlying error, so errors.Is matches
// either.
func (e *invalidError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// isInvalid reports whether err says the material itself is unusable (as
// opposed to, say, an API error).
func isInvalid(err error) bool {
	var ie *invalidError
	return errors.As(err, &ie)
}

func invalid(key string, reason error, format string, args ...any) *invalidError {
	return &invalidError{Key: key, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Material is one parsed set of TLS material, as made by Parse, ParseSecret,
// Generate, Ensure or FromFiles. Treat it as read-only: it is shared by the
// Holder and every handshake.
type Material struct {
	CertPEM  []byte // tls.crt
	KeyPEM   []byte // tls.key
	CABundle []byte // ca.crt; nil for external certificates (the user owns the caBundle)
	CAKeyPEM []byte // ca.key; nil for external certificates
	// ConversionKey is conversion.key (see KeyConversion); nil when the
	// Secret has none, or none of at least MinConversionKeyBytes, and for
	// external certificates.
	ConversionKey []byte

	// Certificate is what GetCertificate serves; Certificate.Leaf is set.
	Certificate *tls.Certificate
	// CAs are the certificates of CABundle in order; CAs[0] signs new
	// certificates with the key in CAKeyPEM.
	CAs []*x509.Certificate

	// ResourceVersion of the Secret the material was read from; "" when it
	// does not come from a Secret.
	ResourceVersion string

	caKey crypto.Signer
}

// Leaf is the serving certificate; nil if m holds none (a Material not made
// by this package).
func (m *Material) Leaf() *x509.Certificate {
	if m.Certificate == nil {
		return nil
	}
	return m.Certificate.Leaf
}

// NotAfter is when the serving certificate expires; zero if m holds none.
func (m *Material) NotAfter() time.Time {
	if leaf := m.Leaf(); leaf != nil {
		return leaf.NotAfter
	}
	return time.Time{}
}

// Data returns the Secret data holding the material. The slices are shared:
// do not modify them.
func (m *Material) Data() map[string][]byte {
	d := map[string][]byte{KeyCert: m.CertPEM, KeyKey: m.KeyPEM, KeyCA: m.CABundle, KeyCAKey: m.CAKeyPEM}
	if m.ConversionKey != nil {
		d[KeyConversion] = m.ConversionKey
	}
	return d
}

// Equal reports whether both hold the same data.
func (m *Material) Equal(o *Material) bool {
	return bytes.Equal(m.CertPEM, o.CertPEM) && bytes.Equal(m.KeyPEM, o.KeyPEM) &&
		bytes.Equal(m.CABundle, o.CABundle) && bytes.Equal(m.CAKeyPEM, o.CAKeyPEM) &&
		bytes.Equal(m.ConversionKey, o.ConversionKey)
}

// Parse decodes Secret data: every key present, every PEM block decodable and
// of the right type, tls.key matching the first certificate of tls.crt,
// every certificate of ca.crt a CA, ca.key matching the first of them. It
// does not look at validity periods or hosts (see Verify). conversion.key is
// optional: one that is absent or unusable leaves ConversionKey nil, for the
// caller to add a key without touching the certificates.
func Parse(data map[string][]byte) (*Material, error) {
	var missing []string
	for _, k := range []string{KeyCert, KeyKey, KeyCA, KeyCAKey} {
		if len(data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, invalid("", ErrIncomplete, "missing or empty %s", strings.Join(missing, ", "))
	}
	m := &Material{CertPEM: data[KeyCert], KeyPEM: data[KeyKey], CABundle: data[KeyCA], CAKeyPEM: data[KeyCAKey]}
	if k := data[KeyConversion]; checkConversionKey(k) == nil {
		m.ConversionKey = k
	}

	cert, err := parseKeyPair(m.CertPEM, m.KeyPEM)
	if err != nil {
		return nil, err
	}
	m.Certificate = cert

	if m.CAs, err = parseCerts(m.CABundle); err != nil {
		return nil, withKey(KeyCA, err)
	}
	for i, c := range m.CAs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, invalid(KeyCA, ErrMalformed, "certificate %d (%s) is not a CA", i+1, describe(c))
		}
	}
	if m.caKey, err = parseKey(m.CAKeyPEM); err != nil {
		return nil, withKey(KeyCAKey, err)
	}
	if !publicKeysEqual(m.CAs[0].PublicKey, m.caKey.Public()) {
		return nil, invalid(KeyCAKey, ErrMalformed, "does not match the first certificate of %s (%s)", KeyCA, describe(m.CAs[0]))
	}
	return m, nil
}

// parseKeyPair decodes tls.crt (the serving certificate, then any
// intermediates) and tls.key.
func parseKeyPair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	chain, err := parseCerts(certPEM)
	if err != nil {
		return nil, withKey(KeyCert, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, withKey(KeyKey, err)
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, invalid(KeyKey, ErrMalformed, "does not match the serving certificate (%s)", describe(chain[0]))
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}

// withKey sets the Secret key of an *invalidError.
func withKey(key string, err error) error {
	var ie *invalidError
	if errors.As(err, &ie) {
		ie.Key = key
	}
	return err
}

// pemBlocks splits data into PEM blocks. Text before a block is ignored (as
// pem.Decode does); anything but white space after the last block means the
// data was cut or corrupted.
func pemBlocks(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, invalid("", ErrMalformed, "no PEM data")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, invalid("", ErrMalformed, "undecodable data after PEM block %d", len(blocks))
	}
	return blocks, nil
}

// parseCerts decodes one or more PEM CERTIFICATE blocks.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, invalid("", ErrMalformed, "PEM block %d has type %q, want CERTIFICATE", i+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, &invalidError{Reason: ErrMalformed, Detail: fmt.Sprintf("certificate %d", i+1), Err: err}
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// parseKey decodes exactly one PEM private key: PKCS#8, SEC 1 or PKCS#1.
func parseKey(data []byte) (crypto.Signer, error) {
	blocks, err := pemBlocks(data)
	if err != nil {
		return nil, err
	}
	if len(blocks) != 1 {
		return nil, invalid("", ErrMalformed, "%d PEM blocks, want exactly one private key", len(blocks))
	}
	b := blocks[0]
	var key any
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, invalid("", ErrMalformed, "PEM block has type %q, want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY", b.Type)
	}
	if err != nil {
		return nil, &invalidError{Reason: ErrMalformed, Detail: "private key", Err: err}
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, invalid("", ErrMalformed, "unsupported private key type %T", key)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// describe names a certificate in error messages.
func describe(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return "serial " + c.SerialNumber.String()
}

// Verify checks that the material can be served at now for hosts: the
// serving certificate is within its validity period, chains to a CA of
// ca.crt (itself valid at now) for server authentication, and covers every
// host (DNS name or IP).
func (m *Material) Verify(now time.Time, hosts []string) error {
	leaf := m.Leaf()
	if leaf == nil {
		return invalid(KeyCert, ErrIncomplete, "no serving certificate")
	}
	if now.Before(leaf.NotBefore) {
		return invalid(KeyCert, ErrExpired, "%s is not valid before %s (now %s)", describe(leaf), leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Before(leaf.NotAfter) {
		return invalid(KeyCert, ErrExpired, "%s expired at %s", describe(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(m.CAs) == 0 {
		return invalid(KeyCA, ErrIncomplete, "no CA certificates")
	}
	roots := x509.NewCertPool()
	for _, c := range m.CAs {
		roots.AddCert(c)
	}
	if err := verifyServing(leaf, roots, m.intermediates(), now); err != nil {
		var ce x509.CertificateInvalidError
		if errors.As(err, &ce) && ce.Reason == x509.Expired {
			return &invalidError{Key: KeyCA, Reason: ErrExpired, Detail: "the chain of " + describe(leaf), Err: err}
		}
		return &invalidError{Key: KeyCert, Reason: ErrUntrusted, Detail: describe(leaf) + " does not chain to a CA in " + KeyCA, Err: err}
	}
	var uncovered []string
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			uncovered = append(uncovered, h)
		}
	}
	if len(uncovered) > 0 {
		return invalid(KeyCert, ErrWrongHosts, "%s does not cover %s", describe(leaf), strings.Join(uncovered, ", "))
	}
	return nil
}
