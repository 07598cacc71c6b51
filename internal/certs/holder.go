package certs

import (
	"crypto/tls"
	"errors"
	"sync/atomic"
	"time"
)

// Holder holds the material being served. It is safe for concurrent use:
// handshakes read it while Set swaps in new material (rotation, reloaded
// files) without a restart. The zero value holds nothing.
type Holder struct {
	cur atomic.Pointer[Material]
}

// NewHolder returns a Holder serving m.
func NewHolder(m *Material) (*Holder, error) {
	h := &Holder{}
	if err := h.set(m); err != nil {
		return nil, err
	}
	return h, nil
}

// set makes m the served material for every later handshake.
func (h *Holder) set(m *Material) error {
	if m == nil || m.Certificate == nil || m.Certificate.Leaf == nil || len(m.Certificate.Certificate) == 0 {
		return errors.New("certs: no certificate to serve")
	}
	h.cur.Store(m)
	return nil
}

// Current returns the served material, nil if none was set.
func (h *Holder) Current() *Material { return h.cur.Load() }

// GetCertificate is for tls.Config.GetCertificate.
func (h *Holder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	m := h.cur.Load()
	if m == nil {
		return nil, errors.New("certs: no certificate loaded yet")
	}
	return m.Certificate, nil
}

// CABundle returns ca.crt of the served material (the caBundle to publish),
// nil for external certificates or when nothing is served.
func (h *Holder) CABundle() []byte {
	m := h.cur.Load()
	if m == nil {
		return nil
	}
	return append([]byte(nil), m.CABundle...)
}

// NotAfter is when the served certificate expires; zero when nothing is served.
func (h *Holder) NotAfter() time.Time {
	m := h.cur.Load()
	if m == nil {
		return time.Time{}
	}
	return m.NotAfter()
}

// cipherSuites are the TLS 1.2 suites the gateway accepts: ECDHE key
// exchange and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305), for ECDSA
// (the gateway's own certificates) and RSA keys (external ones). CBC
// suites, with their padding-oracle history, are refused. TLS 1.3 suites
// are all AEAD and not configurable.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns the server configuration every TLS listener of the
// gateway shares, serving the held certificate: TLS 1.2 at least with
// cipherSuites, HTTP/1.1 only (the API server calls webhooks over HTTP/1.1;
// an http.Server must also leave TLSNextProto empty or set Protocols, or
// it adds h2 itself).
func (h *Holder) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: h.GetCertificate,
	}
}
