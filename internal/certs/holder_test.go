package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHolderEmpty(t *testing.T) {
	var h Holder
	if _, err := h.GetCertificate(nil); err == nil {
		t.Error("GetCertificate succeeds with nothing held")
	}
	if h.CABundle() != nil || !h.NotAfter().IsZero() || h.Current() != nil {
		t.Error("an empty Holder reports material")
	}
	for _, m := range []*Material{nil, {}, {CertPEM: []byte("x")}} {
		if err := h.set(m); err == nil {
			t.Errorf("Set(%v) accepted material without a certificate", m)
		}
	}
	if _, err := NewHolder(nil); err == nil {
		t.Error("NewHolder(nil) succeeded")
	}
}

func TestHolderSwap(t *testing.T) {
	a := generate(t, testHosts, time.Now(), time.Hour)
	b := generate(t, testHosts, time.Now(), 2*time.Hour)
	h, err := NewHolder(a)
	if err != nil {
		t.Fatal(err)
	}
	check := func(want *Material) {
		t.Helper()
		c, err := h.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil || c != want.Certificate {
			t.Fatalf("GetCertificate = %v, %v; want the held certificate", c, err)
		}
		if !bytes.Equal(h.CABundle(), want.CABundle) || !h.NotAfter().Equal(want.NotAfter()) || h.Current() != want {
			t.Fatal("CABundle, NotAfter or Current do not follow Set")
		}
	}
	check(a)
	if err := h.set(b); err != nil {
		t.Fatal(err)
	}
	check(b)
	// CABundle is a copy: callers cannot corrupt the held material.
	h.CABundle()[0] ^= 0xff
	check(b)
}

// handshake dials addr trusting caPEM and returns the negotiated state.
func handshake(t *testing.T, addr string, caPEM []byte, serverName string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs, cfg.ServerName = roots, serverName
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func TestTLSConfigServesHeldCertificate(t *testing.T) {
	a := generate(t, testHosts, time.Now(), time.Hour)
	b := generate(t, testHosts, time.Now(), time.Hour)
	h, err := NewHolder(a)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", h.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() {
		ln.Close()
		wg.Wait()
	}()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			})
		}
	})
	addr := ln.Addr().String()

	st, err := handshake(t, addr, h.CABundle(), "gw.ns.svc", &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("negotiated %q, want http/1.1", st.NegotiatedProtocol)
	}
	if !st.PeerCertificates[0].Equal(a.Leaf()) {
		t.Error("served another certificate than the held one")
	}
	if _, err := handshake(t, addr, h.CABundle(), "127.0.0.1", nil); err != nil {
		t.Errorf("IP SAN: %v", err)
	}
	if _, err := handshake(t, addr, h.CABundle(), "gw", &tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("accepted TLS 1.1")
	}
	// TLS 1.2: AEAD suites only. A client offering only CBC suites is
	// refused; one offering an AEAD suite connects with it.
	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	if st, err := handshake(t, addr, h.CABundle(), "gw", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
		t.Errorf("a CBC-only TLS 1.2 client connected with %s", tls.CipherSuiteName(st.CipherSuite))
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		st, err := handshake(t, addr, h.CABundle(), "gw", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: append([]uint16{suite}, cbc...)})
		if err != nil {
			t.Errorf("TLS 1.2 with %s: %v", tls.CipherSuiteName(suite), err)
		} else if st.CipherSuite != suite {
			t.Errorf("TLS 1.2 negotiated %s, want %s", tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(suite))
		}
	}
	if st, err := handshake(t, addr, h.CABundle(), "gw", nil); err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("a default client: version %x, %v; want TLS 1.3", st.Version, err)
	}
	for _, id := range cipherSuites {
		if c := cipherSuite(id); c == nil || c.Insecure || !strings.Contains(c.Name, "_GCM_") && !strings.Contains(c.Name, "CHACHA20_POLY1305") {
			t.Errorf("CipherSuites holds %s, not a secure AEAD suite", tls.CipherSuiteName(id))
		}
	}

	// Swapped in memory: the next handshake serves b, which a's CA does not trust.
	oldCA := h.CABundle()
	if err := h.set(b); err != nil {
		t.Fatal(err)
	}
	st, err = handshake(t, addr, h.CABundle(), "gw.ns.svc.cluster.local", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.PeerCertificates[0].Equal(b.Leaf()) {
		t.Error("still serving the old certificate after Set")
	}
	if _, err := handshake(t, addr, oldCA, "gw", nil); err == nil {
		t.Error("a client trusting only the old CA accepted the new certificate")
	}
}

func cipherSuite(id uint16) *tls.CipherSuite {
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Handshakes racing with Set always get one of the complete certificates.
func TestHolderConcurrentSet(t *testing.T) {
	ms := []*Material{generate(t, testHosts, time.Now(), time.Hour), generate(t, testHosts, time.Now(), time.Hour)}
	h, _ := NewHolder(ms[0])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				_ = h.set(ms[i%2])
			}
		}
	})
	for range 10000 {
		c, err := h.GetCertificate(nil)
		if err != nil || (c != ms[0].Certificate && c != ms[1].Certificate) {
			t.Fatalf("GetCertificate = %p, %v", c, err)
		}
	}
	close(stop)
	wg.Wait()
}
