package certs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
)

// Rotator keeps one replica's certificate in step with the Secret, on the
// maintenance tick, with no watch and no leader:
//
//  1. Sync reads the Secret and, with an update guarded by its
//     resourceVersion (one replica wins, the others adopt the result):
//     re-creates it from this replica's material if it was deleted, repairs
//     it if invalid, rotates it when less than RotationThreshold is left
//     (or RotateAnnotation asks for it),
//     adds the CA of the certificate this replica serves to ca.crt if
//     someone dropped it, and a conversion key if the Secret has none (every
//     write keeps the key). What the Secret holds becomes the latest material;
//     when that is not what this replica serves, it is pending.
//  2. The caller publishes CABundle (the latest ca.crt) in every
//     configuration it manages, reads their caBundles back and calls Confirm.
//  3. Confirm serves the pending material once every caBundle has trusted it
//     for TrustGrace (or at once if the served one is no longer trusted),
//     and reports whether the served certificate is trusted (readiness).
//     Promote does the same from a timer, so a swap need not wait for the
//     next tick.
//
// Because ca.crt keeps the older CAs (see retained), every replica's served
// certificate stays trusted while the replicas swap one by one.
type Rotator struct {
	opts   Options
	store  *store
	log    *slog.Logger
	holder *Holder

	mu      sync.Mutex
	latest  *Material // the Secret as last read or written
	pending *Material // latest, when it is not served yet
	since   time.Time // when pending was first seen trusted by every caBundle; zero: not (yet)
}

// NewRotator obtains the material with Ensure and serves it.
func NewRotator(ctx context.Context, client dynamic.Interface, opts Options) (*Rotator, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := Ensure(ctx, client, opts)
	if err != nil {
		return nil, err
	}
	h, err := NewHolder(m)
	if err != nil {
		return nil, err
	}
	s := newStore(client, opts.Namespace, opts.SecretName)
	return &Rotator{opts: opts, store: s, log: opts.log().With("secret", opts.Namespace+"/"+opts.SecretName), holder: h, latest: m}, nil
}

// Holder is what the webhook listener serves.
func (r *Rotator) Holder() *Holder { return r.holder }

// CABundle is ca.crt of the latest material: the caBundle to publish.
func (r *Rotator) CABundle() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.latest.CABundle...)
}

// ConversionKey is the conversion key (KeyConversion) of the Secret as last
// read or written: the same on every replica, kept across rotations and
// repairs. Do not modify it.
func (r *Rotator) ConversionKey() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest.ConversionKey
}

// Latest is the material of the Secret as last read or written.
func (r *Rotator) Latest() *Material {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

// Pending is the latest material while it is not served yet, else nil.
func (r *Rotator) Pending() *Material {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// RotateAnnotation on the Secret asks for a rotation by hand (any value):
// the next tick rotates as if the threshold were reached, and the rotation's
// update removes the annotation.
const RotateAnnotation = "orkestra.orkspace.io/rotate"

// Action is what Sync wrote to the Secret.
type Action string

const (
	// Restored: the Secret was deleted or made invalid, and this replica
	// wrote back the latest material it knew (certificates being served
	// stay valid).
	Restored Action = "restored"
	// Replaced: the Secret was invalid and the latest material known could
	// not be served either (expired, wrong hosts): new material, keeping
	// the CAs still needed.
	Replaced Action = "replaced"
	// Rotated: less than the rotation threshold was left, or
	// RotateAnnotation asked for it.
	Rotated Action = "rotated"
	// AddedCA: ca.crt lacked the CA of the certificate this replica serves.
	AddedCA Action = "added-ca"
	// Relabelled: the Secret's labels were restored.
	Relabelled Action = "relabelled"
	// AddedKey: the Secret had no usable conversion key (KeyConversion).
	AddedKey Action = "added-key"
)

// SyncResult says what Sync did.
type SyncResult struct {
	// Action is what this replica wrote; "" if nothing.
	Action Action
	// Reason says why it wrote.
	Reason string
	// Conflicts counts writes lost to another writer (Conflict,
	// AlreadyExists, NotFound on update): each was followed by a re-read.
	Conflicts int
	// Changed reports whether the Secret now holds other material than
	// before the call (written here or by another replica).
	Changed bool
}

// Sync reads the Secret and writes it if needed (see Rotator). On error the
// latest material is kept: the replica goes on serving and publishing it.
func (r *Rotator) Sync(ctx context.Context) (SyncResult, error) {
	var res SyncResult
	var lost error
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("syncing %s: %w", r.store, err)
		}
		now := r.opts.now()
		sec, err := r.store.get(ctx)
		var (
			base   *Secret // nil: create
			want   *Material
			action Action
			reason string
		)
		switch {
		case apierrors.IsNotFound(err):
			want, action, reason, err = r.repair(now, "the secret was deleted")
		case err != nil:
			return res, fmt.Errorf("reading %s: %w", r.store, err)
		default:
			base = sec
			var m *Material
			m, err = ParseSecret(sec)
			if err == nil {
				err = m.Verify(now, r.opts.Hosts)
			}
			switch {
			case err == nil:
				want, action, reason, err = r.plan(m, sec, now)
				if err == nil && want == nil {
					res.Changed = r.adopt(m) || res.Changed
					return res, nil
				}
				if action == Rotated && sec.Annotations[RotateAnnotation] != "" {
					cp := *sec // the request is served: drop it
					cp.ObjectMeta = *sec.ObjectMeta.DeepCopy()
					delete(cp.Annotations, RotateAnnotation)
					base = &cp
				}
			case isInvalid(err):
				want, action, reason, err = r.repair(now, err.Error())
			default: // the wrong type: no update can fix it
				return res, err
			}
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", r.store, err)
		}

		stored, err := r.store.write(ctx, base, want)
		if lostRace(err, base == nil) {
			res.Conflicts++
			lost = err
			r.log.Info("another writer changed the TLS secret first; reading it again", "wanted", string(action), "err", err)
			continue
		}
		if err != nil {
			return res, fmt.Errorf("%s %s (%s): %w", action, r.store, reason, err)
		}
		m, err := r.store.adopt(stored, r.opts)
		if err != nil {
			return res, err
		}
		res.Action, res.Reason = action, reason
		res.Changed = r.adopt(m) || res.Changed
		r.log.Info("wrote the TLS secret", "action", string(action), "reason", reason,
			"resourceVersion", m.ResourceVersion, "notAfter", m.NotAfter(), "cas", len(m.CAs))
		return res, nil
	}
	return res, fmt.Errorf("%s kept changing under %d read-write attempts: %w", r.store, maxAttempts, lost)
}

// plan decides what to write over a valid Secret holding m; nil if nothing.
func (r *Rotator) plan(m *Material, sec *Secret, now time.Time) (*Material, Action, string, error) {
	if m.due(now, r.opts.RotationThreshold) || sec.Annotations[RotateAnnotation] != "" {
		reason := fmt.Sprintf("the certificate expires at %s, less than %s from now", m.NotAfter().UTC().Format(time.RFC3339), r.opts.RotationThreshold)
		if v := sec.Annotations[RotateAnnotation]; v != "" {
			reason = fmt.Sprintf("requested by the annotation %s=%s", RotateAnnotation, v)
		}
		next, err := m.Rotate(r.opts.Hosts, now, r.opts.ValidFor, r.opts.Retain)
		return r.keyed(next, Rotated, reason, err)
	}
	served := r.holder.Current()
	if ca := served.issuer(); ca != nil && now.Before(served.NotAfter()) && Trusted(served, []Bundle{{Source: KeyCA, PEM: m.CABundle}}, now) != nil {
		next, err := m.withCA(ca)
		return r.keyed(next, AddedCA, "ca.crt lacks the CA of the served certificate "+describe(ca), err)
	}
	if m.ConversionKey == nil {
		return r.keyed(m, AddedKey, KeyConversion+" is missing or shorter than "+fmt.Sprint(MinConversionKeyBytes)+" bytes", nil)
	}
	if !hasLabels(sec.Labels) {
		return m, Relabelled, "the labels were removed", nil
	}
	return nil, "", "", nil
}

// keyed passes a planned write on, with a conversion key added to its
// material if it has none: every write leaves the Secret with a key. The
// key added is the one this replica knows, so that what it authenticated
// keeps verifying; a fresh one only if it knows none.
func (r *Rotator) keyed(m *Material, a Action, reason string, err error) (*Material, Action, string, error) {
	if err != nil {
		return nil, a, reason, err
	}
	if m.ConversionKey == nil {
		if k := r.ConversionKey(); k != nil {
			cp := *m
			cp.ConversionKey = k
			return &cp, a, reason, nil
		}
	}
	m, err = m.withConversionKey()
	return m, a, reason, err
}

// repair decides what replaces a deleted or invalid Secret: the latest
// material this replica knows, which every replica's served certificate
// chains to, unless it cannot be served any more.
func (r *Rotator) repair(now time.Time, why string) (*Material, Action, string, error) {
	r.mu.Lock()
	l := r.latest
	r.mu.Unlock()
	if err := l.Verify(now, r.opts.Hosts); err != nil || l.due(now, r.opts.RotationThreshold) {
		next, err := l.Rotate(r.opts.Hosts, now, r.opts.ValidFor, r.opts.Retain)
		return r.keyed(next, Replaced, why, err)
	}
	return r.keyed(l, Restored, why, nil)
}

// adopt makes m the latest material and reports whether it differs from
// the latest before.
func (r *Rotator) adopt(m *Material) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := !r.latest.Equal(m)
	r.latest = m
	cur := r.holder.Current()
	switch {
	case cur.Equal(m):
		r.pending, r.since = nil, time.Time{}
	case bytes.Equal(cur.CertPEM, m.CertPEM) && bytes.Equal(cur.KeyPEM, m.KeyPEM) && r.holder.set(m) == nil:
		// Only ca.crt changed: clients see the same certificate, so there
		// is nothing to wait for.
		r.pending, r.since = nil, time.Time{}
	case r.pending != nil && r.pending.Equal(m):
		r.pending = m // same material, newer resourceVersion: keep since
	default:
		r.pending, r.since = m, time.Time{}
		r.log.Info("the TLS secret holds a new certificate; serving it once every caBundle trusts it",
			"resourceVersion", m.ResourceVersion, "notAfter", m.NotAfter(), "trustGrace", r.opts.TrustGrace.String())
	}
	return changed
}

// Confirmation is what Confirm found.
type Confirmation struct {
	// Untrusted says why a caBundle does not trust the served certificate
	// (after any swap); nil when all do: the replica may be ready.
	Untrusted error
	// Swapped reports whether the pending material is now served.
	Swapped bool
	// SwapAt is when the pending material will have been trusted for the
	// grace period: call Promote then. Zero when nothing waits.
	SwapAt time.Time
}

// Confirm takes the caBundles of every configuration the replica manages,
// as just read. A pending certificate they all trust is served once they
// have trusted it for TrustGrace, or at once if they no longer trust the
// served one; a pending certificate one of them does not trust restarts
// the grace period when it is trusted again.
func (r *Rotator) Confirm(now time.Time, bundles []Bundle) Confirmation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c Confirmation
	if r.pending != nil {
		if Trusted(r.pending, bundles, now) != nil {
			r.since = time.Time{}
		} else {
			if r.since.IsZero() {
				r.since = now
			}
			at := r.since.Add(r.opts.TrustGrace)
			if !now.Before(at) || Trusted(r.holder.Current(), bundles, now) != nil {
				c.Swapped = r.swap()
			} else {
				c.SwapAt = at
			}
		}
	}
	c.Untrusted = Trusted(r.holder.Current(), bundles, now)
	return c
}

// Promote serves the pending material if, at the last Confirm, every
// caBundle trusted it and the grace period has passed since they first did.
func (r *Rotator) Promote(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil || r.since.IsZero() || now.Before(r.since.Add(r.opts.TrustGrace)) {
		return false
	}
	return r.swap()
}

// swap serves the pending material; r.mu is held.
func (r *Rotator) swap() bool {
	if err := r.holder.set(r.pending); err != nil {
		r.log.Error("cannot serve the rotated certificate", "err", err)
		return false
	}
	r.log.Info("serving the rotated certificate", "resourceVersion", r.pending.ResourceVersion,
		"notAfter", r.pending.NotAfter(), "trustedFor", r.opts.now().Sub(r.since).Round(time.Millisecond).String())
	r.pending, r.since = nil, time.Time{}
	return true
}
