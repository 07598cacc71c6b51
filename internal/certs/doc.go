// Package certs manages the gateway's TLS material: it generates a CA and a
// serving certificate, keeps them in one Kubernetes Secret shared by every
// replica, and serves the current certificate through
// tls.Config.GetCertificate so it can be swapped without a restart.
//
// # The Secret
//
// One Secret of type kubernetes.io/tls (policy.Certs.SecretName in the
// gateway's namespace) is the single source of truth. Its data keys:
//
//	tls.crt  the serving certificate (PEM), optionally followed by intermediates
//	tls.key  its private key (PEM, PKCS#8 or SEC 1)
//	ca.crt   the CA bundle (PEM, one or more certificates): the caBundle of every
//	         webhook configuration and conversion CRD. The first certificate is
//	         the current signing CA; the others are older CAs that are still
//	         trusted (rotation keeps them while they are valid).
//	ca.key   the private key of the first certificate in ca.crt (PEM), so that a
//	         later rotation or re-signing can happen from the Secret alone
//	conversion.key
//	         32 random bytes keying the MAC of the conversion webhook's
//	         preserved-fields annotation; not part of the certificates, so
//	         rotations and repairs keep it (see KeyConversion)
//
// It carries the labels orkestra.io/deletion-protection: "true" and
// app.kubernetes.io/managed-by: orkestra-gateway. The annotation
// orkestra.orkspace.io/rotate (RotateAnnotation) asks for a rotation by hand.
//
// Replicas coordinate with optimistic concurrency only (create if absent,
// update guarded by resourceVersion); a replica serves only material it has
// read back from the Secret, so replicas never diverge. Ensure obtains the
// material at start-up; a Rotator then keeps it in step on every maintenance
// tick: it repairs and rotates the Secret, and serves a rotated certificate
// only once every caBundle has trusted its CA for a grace period (Confirm,
// Trusted), while ca.crt keeps the older CAs still needed (retained). The
// protocol is described step by step in docs/certificates.md. The API server is
// reached through k8s.io/client-go/dynamic alone, to keep the gateway binary
// free of typed clientsets.
package certs
