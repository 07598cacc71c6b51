package ensuretest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/certs"
)

// TestRotatorsRace runs three replicas' Rotators at once against the real
// API server: a rotation that is due, a deleted Secret, a corrupted one.
// Whatever the interleaving, exactly one replica writes and all of them end
// up with the material the Secret holds.
func TestRotatorsRace(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	var offset atomic.Int64 // the replicas' clock runs ahead of the wall clock by this much
	opts := options(ns)
	opts.ValidFor, opts.RotationThreshold, opts.TrustGrace, opts.Retain = 2*time.Hour, 2*time.Hour-10*time.Second, time.Second, 8*time.Second
	opts.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

	const replicas = 3
	var rs [replicas]*certs.Rotator
	for i := range replicas {
		r, err := certs.NewRotator(ctx, env.Dynamic, opts)
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = r
	}
	first := rs[0].Holder().Current()

	// race runs Sync on every replica at once and checks that exactly one
	// wrote, with the given action, and that all agree with the Secret.
	race := func(t *testing.T, want certs.Action) {
		t.Helper()
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results [replicas]certs.SyncResult
			errs    [replicas]error
		)
		for i := range replicas {
			wg.Go(func() {
				<-start
				results[i], errs[i] = rs[i].Sync(ctx)
			})
		}
		close(start)
		wg.Wait()
		writers, conflicts := 0, 0
		for i := range replicas {
			if errs[i] != nil {
				t.Fatalf("replica %d: %v", i, errs[i])
			}
			if results[i].Action != "" {
				writers++
				if results[i].Action != want {
					t.Errorf("replica %d wrote %q (%s), want %q", i, results[i].Action, results[i].Reason, want)
				}
			}
			conflicts += results[i].Conflicts
		}
		t.Logf("%d writer, %d lost writes re-read", writers, conflicts)
		if writers != 1 {
			t.Fatalf("%d replicas wrote the Secret, want exactly 1", writers)
		}
		s := getSecret(t, ns)
		for i := range replicas {
			l := rs[i].Latest()
			if !bytes.Equal(l.CertPEM, s.Data["tls.crt"]) || !bytes.Equal(l.CABundle, s.Data["ca.crt"]) || l.ResourceVersion != s.ResourceVersion {
				t.Fatalf("replica %d's latest material is not the Secret's", i)
			}
		}
	}

	t.Run("rotation due", func(t *testing.T) {
		offset.Store(int64(15 * time.Second))
		race(t, certs.Rotated)
		for i, r := range rs {
			if r.Pending() == nil || !r.Holder().Current().Equal(first) {
				t.Fatalf("replica %d: the rotated material must be pending, the old one still served", i)
			}
			if err := certs.Trusted(first, []certs.Bundle{{Source: "ca.crt", PEM: r.CABundle()}}, opts.Now()); err != nil {
				t.Fatalf("replica %d: the new bundle does not trust the served certificate: %v", i, err)
			}
		}
	})

	t.Run("secret deleted", func(t *testing.T) {
		before := getSecret(t, ns)
		if err := env.Clientset.CoreV1().Secrets(ns).Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		race(t, certs.Restored)
		after := getSecret(t, ns)
		if after.UID == before.UID || !bytes.Equal(after.Data["tls.crt"], before.Data["tls.crt"]) || !bytes.Equal(after.Data["ca.key"], before.Data["ca.key"]) {
			t.Fatal("the Secret was not re-created with the replicas' material")
		}
	})

	t.Run("secret corrupted", func(t *testing.T) {
		s := getSecret(t, ns)
		want := s.Data["tls.key"]
		s.Data["tls.key"] = []byte("garbage")
		if _, err := env.Clientset.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		race(t, certs.Restored)
		if got := getSecret(t, ns).Data["tls.key"]; !bytes.Equal(got, want) {
			t.Fatal("the corrupted key was not restored")
		}
	})
}
