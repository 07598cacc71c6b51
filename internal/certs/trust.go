package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Bundle is the caBundle of one place that calls the gateway: a webhook of
// a webhook configuration, or a CRD's conversion webhook.
type Bundle struct {
	// Source names the place in errors, e.g.
	// "ValidatingWebhookConfiguration x, webhook y".
	Source string
	// PEM is the caBundle as stored. Empty means the API server's own trust
	// roots (the system pool), as in the API server.
	PEM []byte
}

// errNotTrusted is matched (errors.Is) by the errors of Trusted.
var errNotTrusted = errors.New("does not trust the served certificate")

// Trusted checks that every bundle trusts the serving certificate of m at
// now: it chains, through the intermediates in tls.crt, to a certificate of
// the bundle, for server authentication. A bundle is read as the API server
// reads it (PEM certificates, anything else ignored), so one the API server
// cannot use is reported as such. The error names the first bundle that
// does not trust m.
func Trusted(m *Material, bundles []Bundle, now time.Time) error {
	leaf := m.Leaf()
	if leaf == nil {
		return errors.New("no certificate is served")
	}
	inter := m.intermediates()
	pools := map[string]*x509.CertPool{} // bundles repeat across webhooks: parse each once
	for _, b := range bundles {
		var roots *x509.CertPool // nil: the system pool
		if len(b.PEM) > 0 {
			var ok bool
			if roots, ok = pools[string(b.PEM)]; !ok {
				roots = x509.NewCertPool()
				if !roots.AppendCertsFromPEM(b.PEM) {
					return fmt.Errorf("the caBundle of %s holds no PEM certificate, so it %w", b.Source, errNotTrusted)
				}
				pools[string(b.PEM)] = roots
			}
		}
		if err := verifyServing(leaf, roots, inter, now); err != nil {
			what := "caBundle"
			if len(b.PEM) == 0 {
				what = "empty caBundle (system roots)"
			}
			return fmt.Errorf("the %s of %s %w (%s): %v", what, b.Source, errNotTrusted, describe(leaf), err)
		}
	}
	return nil
}

// intermediates are the certificates of tls.crt after the serving one.
func (m *Material) intermediates() *x509.CertPool {
	inter := x509.NewCertPool()
	for _, der := range m.Certificate.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	return inter
}

// verifyServing checks that leaf chains to roots (nil: the system pool)
// through inter, for server authentication, at now.
func verifyServing(leaf *x509.Certificate, roots, inter *x509.CertPool, now time.Time) error {
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}
