package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"time"
)

// clockSkew is how far NotBefore is backdated, so that a replica (or an API
// server) whose clock runs a little behind the generator's accepts a fresh
// certificate.
const clockSkew = 5 * time.Minute

// caCommonName prefixes the CommonName of generated CAs; the generation time
// is appended so the CAs of a rotation bundle can be told apart.
const caCommonName = "orkestra-gateway-ca"

// Hosts returns the names the serving certificate must cover: the Service
// names <svc>, <svc>.<ns>, <svc>.<ns>.svc and <svc>.<ns>.svc.cluster.local,
// then the host of gatewayURL (nil: none). An IP literal becomes an IP SAN.
func Hosts(service, namespace string, gatewayURL *url.URL) []string {
	hosts := []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}
	if gatewayURL != nil {
		if h := gatewayURL.Hostname(); h != "" {
			hosts = appendUnique(hosts, h)
		}
	}
	return hosts
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// splitHosts sorts hosts into DNS and IP SANs.
func splitHosts(hosts []string) (dns []string, ips []net.IP, err error) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if h == "" {
			return nil, nil, errors.New("empty host name")
		}
		dns = appendUnique(dns, h)
	}
	return dns, ips, nil
}

// Generate creates a new CA and a serving certificate for hosts signed by
// it, both valid from now-clockSkew for validFor. The result has no
// resourceVersion: it is not in a Secret yet.
func Generate(hosts []string, now time.Time, validFor time.Duration) (*Material, error) {
	ca, err := newCA(now, validFor)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.issue(hosts, now, validFor)
	if err != nil {
		return nil, err
	}
	// Through Parse, so generated and read material are built the same way.
	return Parse(map[string][]byte{
		KeyCert:  certPEM,
		KeyKey:   keyPEM,
		KeyCA:    ca.certPEM,
		KeyCAKey: ca.keyPEM,
	})
}

// ca is a signing CA with its key.
type ca struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func newCA(now time.Time, validFor time.Duration) (*ca, error) {
	if validFor <= 0 {
		return nil, fmt.Errorf("certificate validity must be positive, got %s", validFor)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName + "@" + strconv.FormatInt(now.Unix(), 10)},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // signs leaves only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the new CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &ca{cert: cert, key: key, certPEM: encodeCert(der), keyPEM: keyPEM}, nil
}

// issue signs a serving certificate for hosts. It never outlives the CA.
func (c *ca) issue(hosts []string, now time.Time, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if validFor <= 0 {
		return nil, nil, fmt.Errorf("certificate validity must be positive, got %s", validFor)
	}
	if len(hosts) == 0 {
		return nil, nil, errors.New("a serving certificate needs at least one host")
	}
	dns, ips, err := splitHosts(hosts)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the serving key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validFor)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the serving certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// randomSerial returns a positive 128-bit serial number (RFC 5280 allows up
// to 20 octets).
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding a private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
