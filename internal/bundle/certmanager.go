package bundle

import (
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Certificates from cert-manager or mounted files
// (security.certManager.source). The gateway then reads tls.crt and tls.key
// from policy.TLSMountDir and reloads them when they change; the bundle
// mounts the Secret secretName there. With cert-manager the bundle also
// carries the issuer and the Certificate that fills that Secret, and the
// gateway annotates its webhook configurations and conversion CRDs with
// cert-manager.io/inject-ca-from so cert-manager's CA injector writes their
// caBundles.

const (
	certManagerAPIVersion = "cert-manager.io/v1"
	certManagerGroup      = "cert-manager.io"
	// caValidity is the validity of the bundle's own CA: long, because its
	// renewal changes the CA every caBundle must trust.
	caValidity = 10 * 365 * 24 * time.Hour
	// caRenewBefore renews the CA a year before it expires.
	caRenewBefore = 365 * 24 * time.Hour
)

// tlsVolume mounts the certificate Secret into the container when the
// certificate does not come from the gateway itself, and returns the volume.
func (s *settings) tlsVolume(c *corev1.Container) []corev1.Volume {
	if !s.p.Certs.External() {
		return nil
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "tls", MountPath: policy.TLSMountDir, ReadOnly: true})
	return []corev1.Volume{{
		Name: "tls",
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s.p.Certs.SecretName,
			Items: []corev1.KeyToPath{
				{Key: corev1.TLSCertKey, Path: corev1.TLSCertKey},
				{Key: corev1.TLSPrivateKeyKey, Path: corev1.TLSPrivateKeyKey},
			},
		}},
	}}
}

func (s *settings) tlsVolumeNotes(volumes []any) []note {
	switch s.p.Certs.Source {
	case policy.CertsCertManager:
		return []note{{path: append(slices.Clone(volumes), 1), text: fmt.Sprintf(
			"The serving certificate cert-manager writes into Secret %s (the Certificate "+
				"before this Deployment). The kubelet updates the files when it is renewed and the gateway "+
				"reloads them; the pods wait for the Secret before they start.", s.p.Certs.SecretName)}}
	case policy.CertsFiles:
		return []note{{path: append(slices.Clone(volumes), 1), text: fmt.Sprintf(
			"The serving certificate (security.certManager.source: files): create the "+
				"kubernetes.io/tls Secret %s, e.g.\n"+
				"  kubectl -n %s create secret tls %s --cert=tls.crt --key=tls.key\n"+
				"or replace this volume (CSI driver, another Secret) with a kustomize patch. "+
				"Its certificate must cover %s; set the caBundles of the "+
				"webhook configurations and conversion CRDs yourself.",
			s.p.Certs.SecretName, s.namespace, s.p.Certs.SecretName, s.hostsText())}}
	}
	return nil
}

func (s *settings) hosts() []string {
	return certs.Hosts(s.app, s.namespace, s.p.Gateway.URL)
}

func (s *settings) hostsText() string {
	h := s.hosts()
	if len(h) > 2 {
		return h[0] + " ... " + h[len(h)-1]
	}
	return fmt.Sprint(h)
}

// certificateName is the cert-manager Certificate of the serving
// certificate: named like its Secret, which is also what the gateway's
// inject-ca-from annotations name (registration.CAInjection).
func (s *settings) certificateName() string { return s.p.Certs.SecretName }

func (s *settings) caName() string { return s.app + "-ca" }

// certManagerDocs are the cert-manager objects of the bundle: with an
// issuerRef, the serving Certificate only; else a self-signed Issuer that
// signs a CA Certificate, a CA Issuer on that CA, and the serving
// Certificate it signs. A CA rather than a self-signed serving certificate:
// renewing the serving certificate then keeps the CA, so the caBundles
// trust the new certificate before the gateway loads it.
func (s *settings) certManagerDocs() []document {
	if s.p.Certs.Source != policy.CertsCertManager {
		return nil
	}
	var docs []document
	issuer := map[string]any{"name": s.caName(), "kind": "Issuer", "group": certManagerGroup}
	if r := s.p.Certs.IssuerRef; r != nil {
		issuer = map[string]any{"name": r.Name, "kind": r.Kind, "group": r.Group}
	} else {
		selfSigned := s.app + "-selfsigned"
		docs = append(docs,
			s.certManagerDoc("Issuer", selfSigned, map[string]any{"selfSigned": map[string]any{}},
				"Signs the gateway's CA below, and nothing else (cert-manager).", nil),
			s.certManagerDoc("Certificate", s.caName(), map[string]any{
				"isCA":        true,
				"commonName":  s.caName(),
				"secretName":  s.caName(),
				"duration":    caValidity.String(),
				"renewBefore": caRenewBefore.String(),
				"privateKey":  map[string]any{"algorithm": "ECDSA", "size": 256},
				"issuerRef":   map[string]any{"name": selfSigned, "kind": "Issuer", "group": certManagerGroup},
			}, "The gateway's own CA, valid 10 years, renewed one year before it expires. "+
				"Its renewal changes the CA: cert-manager's CA injector then updates the "+
				"caBundles, and the serving certificate is reissued.", []order{
				{[]any{"spec"}, []string{"isCA", "commonName", "secretName", "duration", "renewBefore", "privateKey", "issuerRef"}},
			}),
			s.certManagerDoc("Issuer", s.caName(), map[string]any{"ca": map[string]any{"secretName": s.caName()}},
				"Issues the gateway's serving certificate from the CA above.", nil),
		)
	}
	var dns, ips []any
	for _, h := range s.hosts() {
		if net.ParseIP(h) != nil {
			ips = append(ips, h)
		} else {
			dns = append(dns, h)
		}
	}
	spec := map[string]any{
		"secretName":  s.p.Certs.SecretName,
		"dnsNames":    dns,
		"duration":    s.p.Certs.ValidFor.String(),
		"renewBefore": s.p.Certs.RotationThreshold.String(),
		"privateKey":  map[string]any{"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
		"usages":      []any{"digital signature", "server auth"},
		"issuerRef":   issuer,
		// The Secret carries the bundle's labels, so it is found with the
		// rest of the installation.
		"secretTemplate": map[string]any{"labels": toAny(s.labels())},
	}
	if len(ips) > 0 {
		spec["ipAddresses"] = ips
	}
	head := fmt.Sprintf("The gateway's serving certificate, written by cert-manager into Secret %s, "+
		"which the Deployment mounts. validFor and rotationThreshold of the Katalog are "+
		"its duration and renewBefore. The gateway's webhook configurations and "+
		"conversion CRDs carry cert-manager.io/inject-ca-from: %s/%s, so "+
		"cert-manager's CA injector writes their caBundles.", s.p.Certs.SecretName, s.namespace, s.certificateName())
	return append(docs, s.certManagerDoc("Certificate", s.certificateName(), spec, head, []order{
		{[]any{"spec"}, []string{"secretName", "secretTemplate", "dnsNames", "ipAddresses", "duration", "renewBefore", "privateKey", "usages", "issuerRef"}},
	}))
}

func (s *settings) certManagerDoc(kind, name string, spec map[string]any, head string, orders []order) document {
	obj := map[string]any{
		"apiVersion": certManagerAPIVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": s.namespace, "labels": toAny(s.labels())},
		"spec":       spec,
	}
	return document{apiVersion: certManagerAPIVersion, kind: kind, namespace: s.namespace, name: name, obj: obj, head: head,
		orders: append(orders, order{[]any{"spec", "issuerRef"}, []string{"name", "kind", "group"}})}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
