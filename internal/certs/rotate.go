package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"time"
)

// maxCAs bounds ca.crt. Retention (see Rotate) normally keeps two or three
// CAs; the bound only matters for settings that rotate faster than replicas
// can swap, where it keeps the Secret and every caBundle far below the API
// server's object size limit.
const maxCAs = 32

// due reports whether the serving certificate has less than threshold left
// at now. A threshold of zero or less never makes material due.
func (m *Material) due(now time.Time, threshold time.Duration) bool {
	return threshold > 0 && m.NotAfter().Sub(now) < threshold
}

// Rotate returns new material: a new CA, a serving certificate for hosts
// signed by it, and ca.crt holding the new CA first, then the CAs of m that
// are still needed (see retained). The conversion key is m's: a rotation
// never invalidates what it authenticated. m is left unchanged.
func (m *Material) Rotate(hosts []string, now time.Time, validFor, retain time.Duration) (*Material, error) {
	fresh, err := Generate(hosts, now, validFor)
	if err != nil {
		return nil, err
	}
	fresh.ConversionKey = m.ConversionKey
	return fresh.withCAs(append([]*x509.Certificate{fresh.CAs[0]}, retained(m.CAs, fresh.CAs[0], now, retain)...))
}

// retained returns the CAs of old that ca.crt keeps next to the signing CA
// newest, newest first, at most maxCAs-1 of them. A CA is kept while it is
// valid and, when retain > 0, until retain has passed since a newer CA
// superseded it: by then every replica has swapped to a certificate of the
// newer CA, so nothing served still chains to it. retain <= 0 keeps every
// valid CA.
//
// The time a CA was superseded is the generation time (NotBefore +
// clockSkew) of the oldest CA generated after it, among old and newest.
func retained(old []*x509.Certificate, newest *x509.Certificate, now time.Time, retain time.Duration) []*x509.Certificate {
	all := append(slices.Clone(old), newest)
	var keep []*x509.Certificate
	for _, c := range old {
		if bytes.Equal(c.Raw, newest.Raw) || !now.Before(c.NotAfter) || slices.ContainsFunc(keep, func(k *x509.Certificate) bool { return bytes.Equal(k.Raw, c.Raw) }) {
			continue
		}
		if sup, ok := supersededAt(c, all); retain > 0 && ok && now.Sub(sup) > retain {
			continue
		}
		keep = append(keep, c)
	}
	slices.SortStableFunc(keep, func(a, b *x509.Certificate) int { return b.NotBefore.Compare(a.NotBefore) })
	if len(keep) > maxCAs-1 {
		keep = keep[:maxCAs-1]
	}
	return keep
}

// supersededAt is when the oldest CA generated after c was generated.
func supersededAt(c *x509.Certificate, all []*x509.Certificate) (time.Time, bool) {
	var first time.Time
	for _, o := range all {
		if o.NotBefore.After(c.NotBefore) && (first.IsZero() || o.NotBefore.Before(first)) {
			first = o.NotBefore
		}
	}
	return first.Add(clockSkew), !first.IsZero()
}

// issuer returns the CA of m.CAs that signed the serving certificate, nil if
// none did (or m holds no CAs, as external certificates).
func (m *Material) issuer() *x509.Certificate {
	leaf := m.Leaf()
	if leaf == nil {
		return nil
	}
	for _, c := range m.CAs {
		if bytes.Equal(leaf.RawIssuer, c.RawSubject) && leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

// withCA returns m with ca appended to ca.crt (m itself if ca.crt already
// holds it), so that certificates of ca stay trusted. The signing CA and its
// key do not change.
func (m *Material) withCA(ca *x509.Certificate) (*Material, error) {
	if slices.ContainsFunc(m.CAs, func(c *x509.Certificate) bool { return bytes.Equal(c.Raw, ca.Raw) }) {
		return m, nil
	}
	if len(m.CAs) >= maxCAs {
		return nil, fmt.Errorf("ca.crt already holds %d CAs, the most it may", len(m.CAs))
	}
	return m.withCAs(append(slices.Clone(m.CAs), ca))
}

// withCAs returns m with ca.crt made of cas; cas[0] must be m's signing CA.
// The conversion key is kept.
func (m *Material) withCAs(cas []*x509.Certificate) (*Material, error) {
	var bundle []byte
	for _, c := range cas {
		bundle = append(bundle, encodeCert(c.Raw)...)
	}
	// Through Parse, so the result is checked like material read back.
	data := map[string][]byte{KeyCert: m.CertPEM, KeyKey: m.KeyPEM, KeyCA: bundle, KeyCAKey: m.CAKeyPEM}
	if m.ConversionKey != nil {
		data[KeyConversion] = m.ConversionKey
	}
	return Parse(data)
}

// salvageCAs returns the CAs of a ca.crt that are valid at now, or nil if
// it does not parse: when an invalid Secret is replaced, the CAs it still
// holds stay trusted, for replicas that serve a certificate of one of them.
func salvageCAs(caPEM []byte, now time.Time) []*x509.Certificate {
	cas, err := parseCerts(caPEM)
	if err != nil {
		return nil
	}
	var valid []*x509.Certificate
	for _, c := range cas {
		if c.BasicConstraintsValid && c.IsCA && !now.Before(c.NotBefore) && now.Before(c.NotAfter) {
			valid = append(valid, c)
		}
	}
	return valid
}
