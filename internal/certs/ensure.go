package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
)

// Options say where the TLS Secret lives and what its material must cover.
type Options struct {
	Namespace  string
	SecretName string
	// Hosts the serving certificate must cover, usually Hosts(service,
	// namespace, gatewayURL).
	Hosts []string
	// ValidFor is the validity of generated certificates.
	ValidFor time.Duration
	// RotationThreshold: a Rotator renews the certificate when less than
	// this is left; zero never renews (autoRotate: false), though expired
	// material is still replaced.
	RotationThreshold time.Duration
	// TrustGrace is how long every caBundle must have trusted a rotated
	// certificate before a Rotator serves it.
	TrustGrace time.Duration
	// Retain is how long a superseded CA stays in ca.crt (see retained):
	// longer than any replica takes to swap; zero keeps every valid CA.
	Retain time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per Secret written or adopted; nil discards.
	Logger *slog.Logger
}

func (o *Options) check() error {
	var missing []string
	if o.Namespace == "" {
		missing = append(missing, "namespace")
	}
	if o.SecretName == "" {
		missing = append(missing, "secret name")
	}
	if len(o.Hosts) == 0 {
		missing = append(missing, "hosts")
	}
	if len(missing) > 0 {
		return fmt.Errorf("certs: options lack %v", missing)
	}
	for _, h := range o.Hosts {
		if h == "" {
			return errors.New("certs: options: empty host name")
		}
	}
	if o.ValidFor <= 0 {
		return fmt.Errorf("certs: options: validity must be positive, got %s", o.ValidFor)
	}
	if o.RotationThreshold < 0 || (o.RotationThreshold > 0 && o.RotationThreshold >= o.ValidFor) {
		return fmt.Errorf("certs: options: the rotation threshold %s must be 0 (never) or less than the validity %s", o.RotationThreshold, o.ValidFor)
	}
	if o.TrustGrace < 0 || o.Retain < 0 {
		return fmt.Errorf("certs: options: negative trust grace %s or retention %s", o.TrustGrace, o.Retain)
	}
	return nil
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// maxAttempts bounds the read-write rounds of Ensure. Each lost race means
// another replica wrote a valid Secret, so the next read normally adopts it;
// more rounds only happen if something keeps rewriting the Secret.
const maxAttempts = 5

// Ensure returns the material of the TLS Secret, creating or repairing the
// Secret first if needed:
//
//   - absent: generate, create; if another replica created it first
//     (AlreadyExists), read and adopt theirs;
//   - present and valid (see Parse and Verify): adopt it, restoring its
//     labels and adding a conversion key (KeyConversion) first if they are
//     missing;
//   - present but invalid (incomplete, malformed, expired, untrusted, wrong
//     hosts): generate and update it guarded by the resourceVersion read,
//     keeping its conversion key if usable; on a Conflict (another replica
//     repaired it first) read it again.
//
// The returned material is always what the API server stored, never a local
// copy, so all replicas serve the same certificate. A Secret of another type
// than kubernetes.io/tls is an error (the type cannot be updated).
func Ensure(ctx context.Context, client dynamic.Interface, opts Options) (*Material, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	s := newStore(client, opts.Namespace, opts.SecretName)
	log := opts.log().With("secret", opts.Namespace+"/"+opts.SecretName)
	var lost error // the last race lost, for the error after maxAttempts
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ensuring %s: %w", s, err)
		}
		sec, err := s.get(ctx)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading %s: %w", s, err)
		}

		// Decide what to write: base nil means create.
		var (
			base   *Secret
			m      *Material
			action string // for errors and logs
			reason error  // why the Secret is replaced
		)
		if err != nil {
			action = "creating"
		} else {
			base = sec
			m, err = ParseSecret(sec)
			if err == nil {
				err = m.Verify(opts.now(), opts.Hosts)
			}
			switch {
			case err == nil && hasLabels(sec.Labels) && m.ConversionKey != nil:
				log.Debug("using the TLS secret", "resourceVersion", m.ResourceVersion, "notAfter", m.NotAfter())
				return m, nil
			case err == nil && m.ConversionKey == nil: // written before the key existed, or the key was damaged
				action = "adding the conversion key to"
			case err == nil: // valid, but someone removed the protection
				action = "restoring the labels of"
			case isInvalid(err):
				action, reason, m = "replacing", err, nil
			default: // e.g. the wrong type: no update can fix it
				return nil, err
			}
		}
		if m == nil {
			if m, err = replacement(opts, base); err != nil {
				return nil, fmt.Errorf("generating TLS material for %s: %w", s, err)
			}
		}
		if m, err = m.withConversionKey(); err != nil {
			return nil, err
		}

		stored, err := s.write(ctx, base, m)
		if lostRace(err, base == nil) {
			lost = err
			continue // another replica wrote first (or deleted it): read again
		}
		if err != nil {
			if reason != nil {
				return nil, fmt.Errorf("%s %s (%v): %w", action, s, reason, err)
			}
			return nil, fmt.Errorf("%s %s: %w", action, s, err)
		}
		if m, err = s.adopt(stored, opts); err != nil {
			return nil, err
		}
		attrs := []any{"action", action, "resourceVersion", m.ResourceVersion, "notAfter", m.NotAfter()}
		if reason != nil {
			attrs = append(attrs, "reason", reason.Error())
		}
		log.Info("wrote the TLS secret", attrs...)
		return m, nil
	}
	return nil, fmt.Errorf("%s kept changing under %d read-write attempts: %w", s, maxAttempts, lost)
}

// replacement makes new material. When it replaces an invalid Secret, the CAs
// that Secret's ca.crt still holds stay in the new ca.crt (see retained):
// other replicas may be serving certificates of them; and so does its
// conversion key, if usable, so that stored annotations keep verifying.
func replacement(opts Options, replaced *Secret) (*Material, error) {
	now := opts.now()
	m, err := Generate(opts.Hosts, now, opts.ValidFor)
	if err != nil || replaced == nil {
		return m, err
	}
	if k := replaced.Data[KeyConversion]; checkConversionKey(k) == nil {
		m.ConversionKey = k
	}
	old := retained(salvageCAs(replaced.Data[KeyCA], now), m.CAs[0], now, opts.Retain)
	if len(old) == 0 {
		return m, nil
	}
	return m.withCAs(append([]*x509.Certificate{m.CAs[0]}, old...))
}

// lostRace reports whether a write failed because the Secret changed since
// it was read: created by another replica, or updated or deleted since read.
// (A create failing with NotFound means the namespace is missing.)
func lostRace(err error, created bool) bool {
	if created {
		return apierrors.IsAlreadyExists(err)
	}
	return apierrors.IsConflict(err) || apierrors.IsNotFound(err)
}

// adopt parses and verifies what the API server returned after a write.
func (s *store) adopt(sec *Secret, opts Options) (*Material, error) {
	m, err := ParseSecret(sec)
	if err == nil {
		err = m.Verify(opts.now(), opts.Hosts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s as stored by the API server: %w", s, err)
	}
	return m, nil
}
