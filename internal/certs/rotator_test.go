package certs

// The Rotator's decisions, step by step on a fake clock. The fake client
// does not check resourceVersions; ensuretest races real replicas.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time               { return c.now }
func (c *clock) advance(d time.Duration)      { c.now = c.now.Add(d) }
func (c *clock) at(d time.Duration) time.Time { return c.now.Add(d) }

// rotatorOptions rotate every 10 s with a 3 s grace, as the e2e tests do.
func rotatorOptions(c *clock) Options {
	o := testOptions()
	o.ValidFor, o.RotationThreshold, o.TrustGrace, o.Retain = 2*time.Hour, 2*time.Hour-10*time.Second, 3*time.Second, 8*time.Second
	o.Now = c.Now
	return o
}

func newRotator(t *testing.T, client *dynamicfake.FakeDynamicClient, o Options) *Rotator {
	t.Helper()
	r, err := NewRotator(context.Background(), client, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func syncWant(t *testing.T, r *Rotator, want Action) SyncResult {
	t.Helper()
	res, err := r.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != want {
		t.Fatalf("Sync wrote %q (%s), want %q", res.Action, res.Reason, want)
	}
	return res
}

// stored reads the Secret from the fake and parses it.
func stored(t *testing.T, client *dynamicfake.FakeDynamicClient) *Material {
	t.Helper()
	sec, err := newStore(client, "ns", "tls").get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseSecret(sec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func served(r *Rotator) *Material { return r.Holder().Current() }

func bundleOf(m *Material) []Bundle { return []Bundle{{Source: "config", PEM: m.CABundle}} }

func TestRotatorRotation(t *testing.T) {
	c := &clock{now: testNow}
	client := fakeClient(t)
	r := newRotator(t, client, rotatorOptions(c))
	first := served(r)

	c.advance(9 * time.Second)
	syncWant(t, r, "") // 2h-9s left: not due
	if r.Pending() != nil {
		t.Fatal("pending material without a rotation")
	}

	c.advance(2 * time.Second)
	res := syncWant(t, r, Rotated)
	if !res.Changed || !strings.Contains(res.Reason, "less than 1h59m50s from now") {
		t.Fatalf("result %+v", res)
	}
	next := r.Pending()
	if next == nil || served(r) != first || !bytes.Equal(r.CABundle(), next.CABundle) || !stored(t, client).Equal(next) {
		t.Fatal("after the rotation the Secret's material must be pending, the old one served, its bundle published")
	}
	if len(next.CAs) != 2 || Trusted(first, bundleOf(next), c.now) != nil {
		t.Fatal("the rotated bundle does not keep the served certificate trusted")
	}

	// The configurations still carry the old bundle: nothing to confirm.
	conf := r.Confirm(c.now, bundleOf(first))
	if conf.Untrusted != nil || conf.Swapped || !conf.SwapAt.IsZero() {
		t.Fatalf("Confirm with the old bundle: %+v", conf)
	}
	// They carry the new one: the grace period starts.
	conf = r.Confirm(c.now, bundleOf(next))
	if conf.Untrusted != nil || conf.Swapped || !conf.SwapAt.Equal(c.at(3*time.Second)) {
		t.Fatalf("Confirm with the new bundle: %+v", conf)
	}
	// A later confirmation does not restart it.
	c.advance(time.Second)
	if conf = r.Confirm(c.now, bundleOf(next)); !conf.SwapAt.Equal(c.at(2 * time.Second)) {
		t.Fatalf("second Confirm moved the swap to %s", conf.SwapAt)
	}
	if r.Promote(c.at(time.Second)) || served(r) != first {
		t.Fatal("promoted before the grace period")
	}
	if !r.Promote(c.at(2*time.Second)) || served(r) != next || r.Pending() != nil {
		t.Fatal("not promoted after the grace period")
	}
	if r.Promote(c.at(3 * time.Second)) {
		t.Fatal("promoted twice")
	}

	// A bundle that stops trusting the pending certificate restarts the grace period.
	c.advance(10 * time.Second)
	syncWant(t, r, Rotated)
	third := r.Pending()
	r.Confirm(c.now, bundleOf(third))
	c.advance(2 * time.Second)
	if conf = r.Confirm(c.now, bundleOf(next)); !conf.SwapAt.IsZero() {
		t.Fatalf("Confirm without the new CA still schedules a swap: %+v", conf)
	}
	if r.Promote(c.at(time.Hour)) {
		t.Fatal("promoted material that lost trust")
	}
	if conf = r.Confirm(c.now, bundleOf(third)); !conf.SwapAt.Equal(c.at(3 * time.Second)) {
		t.Fatalf("grace period did not restart: %+v", conf)
	}
	// Retention: the first CA was superseded 13 s ago, beyond 8 s.
	if got, want := cas(third), caName(c.now.Add(-2*time.Second))+" "+caName(testNow.Add(11*time.Second)); got != want {
		t.Errorf("ca.crt = %s, want %s", got, want)
	}
}

// When the caBundles no longer trust the served certificate but trust the
// pending one, waiting would only prolong the outage.
func TestRotatorSwapsAtOnceWhenServedUntrusted(t *testing.T) {
	c := &clock{now: testNow}
	r := newRotator(t, fakeClient(t), rotatorOptions(c))
	first := served(r)
	c.advance(11 * time.Second)
	syncWant(t, r, Rotated)
	next := r.Pending()
	onlyNew := []Bundle{{Source: "edited", PEM: encodeCert(next.CAs[0].Raw)}}
	conf := r.Confirm(c.now, onlyNew)
	if !conf.Swapped || conf.Untrusted != nil || served(r) != next {
		t.Fatalf("Confirm: %+v", conf)
	}
	// And the reverse: nothing pending, the served certificate untrusted.
	conf = r.Confirm(c.now, []Bundle{{Source: "edited", PEM: first.CABundle}})
	if conf.Untrusted == nil || !errors.Is(conf.Untrusted, errNotTrusted) || !strings.Contains(conf.Untrusted.Error(), "caBundle of edited") {
		t.Fatalf("Untrusted = %v", conf.Untrusted)
	}
}

func TestRotatorRestores(t *testing.T) {
	c := &clock{now: testNow}
	client := fakeClient(t)
	r := newRotator(t, client, rotatorOptions(c))
	want := served(r)
	del := func() {
		if err := client.Resource(secretsGVR).Namespace("ns").Delete(context.Background(), "tls", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	del()
	syncWant(t, r, Restored)
	if !stored(t, client).Equal(want) || served(r) != want || r.Pending() != nil {
		t.Fatal("a deleted Secret was not re-created from the served material")
	}

	// Corrupted: restored the same way.
	s := newStore(client, "ns", "tls")
	sec, err := s.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bad := &Material{CertPEM: want.CertPEM, KeyPEM: []byte("garbage"), CABundle: want.CABundle, CAKeyPEM: want.CAKeyPEM}
	if _, err := s.update(context.Background(), sec, bad); err != nil {
		t.Fatal(err)
	}
	res := syncWant(t, r, Restored)
	if !strings.Contains(res.Reason, "tls.key: malformed") || res.Changed || !stored(t, client).Equal(want) {
		t.Fatalf("corrupted Secret: %+v", res)
	}

	// Labels removed: restored, data unchanged.
	sec, _ = s.get(context.Background())
	sec.Labels = map[string]string{"other": "x"}
	u, _ := toUnstructured(sec)
	if _, err := client.Resource(secretsGVR).Namespace("ns").Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	syncWant(t, r, Relabelled)
	if sec, _ = s.get(context.Background()); !hasLabels(sec.Labels) || sec.Labels["other"] != "x" {
		t.Fatalf("labels %v", sec.Labels)
	}

	// Deleted while the latest material is past its threshold (or
	// expired): new material, still trusting the served CA.
	c.advance(time.Minute)
	del()
	syncWant(t, r, Replaced)
	got := stored(t, client)
	if got.Equal(want) || Trusted(want, bundleOf(got), c.now) != nil {
		t.Fatal("replacement material does not keep the served certificate trusted")
	}
}

// Someone writes a valid Secret whose ca.crt lacks the CA of what this
// replica serves: the replica adds it back before it may swap.
func TestRotatorAddsServedCA(t *testing.T) {
	c := &clock{now: testNow}
	client := fakeClient(t)
	r := newRotator(t, client, rotatorOptions(c))
	first := served(r)
	foreign := generate(t, testHosts, c.now, 2*time.Hour)
	s := newStore(client, "ns", "tls")
	sec, _ := s.get(context.Background())
	if _, err := s.update(context.Background(), sec, foreign); err != nil {
		t.Fatal(err)
	}
	res := syncWant(t, r, AddedCA)
	got := stored(t, client)
	if !res.Changed || !bytes.Equal(got.CertPEM, foreign.CertPEM) || len(got.CAs) != 2 || Trusted(first, bundleOf(got), c.now) != nil {
		t.Fatalf("after AddedCA the Secret holds %s", cas(got))
	}
	if p := r.Pending(); p == nil || !p.Equal(got) {
		t.Fatal("the foreign material is not pending")
	}
	syncWant(t, r, "") // nothing more to do
}

// Only ca.crt changed: the same certificate is served at once.
func TestRotatorBundleOnlyChange(t *testing.T) {
	c := &clock{now: testNow}
	client := fakeClient(t)
	r := newRotator(t, client, rotatorOptions(c))
	other := generate(t, testHosts, c.now, time.Hour)
	wider, err := served(r).withCA(other.CAs[0])
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(client, "ns", "tls")
	sec, _ := s.get(context.Background())
	if _, err := s.update(context.Background(), sec, wider); err != nil {
		t.Fatal(err)
	}
	syncWant(t, r, "")
	if r.Pending() != nil || !served(r).Equal(wider) {
		t.Fatal("a ca.crt-only change is pending instead of served")
	}
}

func TestRotatorErrors(t *testing.T) {
	c := &clock{now: testNow}
	o := rotatorOptions(c)
	o.RotationThreshold = o.ValidFor
	if _, err := NewRotator(context.Background(), fakeClient(t), o); err == nil || !strings.Contains(err.Error(), "must be 0 (never) or less than the validity 2h0m0s") {
		t.Fatalf("threshold = validity: %v", err)
	}
	o = rotatorOptions(c)
	o.TrustGrace = -time.Second
	if _, err := NewRotator(context.Background(), fakeClient(t), o); err == nil || !strings.Contains(err.Error(), "negative trust grace") {
		t.Fatalf("negative grace: %v", err)
	}

	client := fakeClient(t)
	r := newRotator(t, client, rotatorOptions(c))
	first := served(r)
	gr := schema.GroupResource{Resource: "secrets"}

	// Reading fails: the latest material is kept.
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(gr, "tls", nil)
	})
	if _, err := r.Sync(context.Background()); err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "reading secret ns/tls") {
		t.Fatalf("Sync with get forbidden: %v", err)
	}
	if !r.Latest().Equal(first) {
		t.Fatal("a failed read changed the latest material")
	}

	// A lost update (Conflict) is counted and followed by a re-read.
	client = fakeClient(t)
	r = newRotator(t, client, rotatorOptions(c))
	c.advance(11 * time.Second)
	lost := false
	client.PrependReactor("update", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if lost {
			return false, nil, nil
		}
		lost = true
		return true, nil, apierrors.NewConflict(gr, "tls", errors.New("changed"))
	})
	res := syncWant(t, r, Rotated)
	if res.Conflicts != 1 {
		t.Fatalf("%d conflicts, want 1", res.Conflicts)
	}

	// The wrong type cannot be fixed by an update.
	client = fakeClient(t)
	r = newRotator(t, client, rotatorOptions(c))
	s := newStore(client, "ns", "tls")
	sec, _ := s.get(context.Background())
	sec.Type = "Opaque"
	u, _ := toUnstructured(sec)
	if _, err := client.Resource(secretsGVR).Namespace("ns").Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), `has type "Opaque"`) {
		t.Fatalf("Sync over an Opaque Secret: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled context: %v", err)
	}
}

// Ensure keeps the still-valid CAs of an invalid Secret it replaces.
func TestEnsureKeepsCAsOfReplaced(t *testing.T) {
	old := generate(t, testHosts, time.Now(), time.Hour)
	data := old.Data()
	data[KeyKey] = []byte("garbage")
	client := fakeClient(t)
	u, _ := toUnstructured(&Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tls", Labels: Labels()}, Type: secretTypeTLS, Data: data})
	u.SetAPIVersion("v1")
	u.SetKind("Secret")
	if _, err := client.Resource(secretsGVR).Namespace("ns").Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := Ensure(context.Background(), client, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CAs) != 2 || !bytes.Equal(m.CAs[1].Raw, old.CAs[0].Raw) || Trusted(old, bundleOf(m), time.Now()) != nil {
		t.Fatalf("replacement ca.crt has %d CAs; want the new CA and the old one", len(m.CAs))
	}
}

// Rotation by hand: the annotation rotates at once, keeping the served
// certificate trusted, and the rotation's update removes it.
func TestRotatorRotateAnnotation(t *testing.T) {
	c := &clock{now: testNow}
	client := fakeClient(t)
	o := rotatorOptions(c)
	o.RotationThreshold = 0 // autoRotate: false still honours a request by hand
	r := newRotator(t, client, o)
	first := served(r)
	s := newStore(client, "ns", "tls")
	sec, _ := s.get(context.Background())
	sec.Annotations = map[string]string{RotateAnnotation: "now", "keep": "me"}
	u, _ := toUnstructured(sec)
	if _, err := client.Resource(secretsGVR).Namespace("ns").Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := syncWant(t, r, Rotated)
	if !strings.Contains(res.Reason, "requested by the annotation orkestra.orkspace.io/rotate=now") {
		t.Errorf("reason %q", res.Reason)
	}
	sec, _ = s.get(context.Background())
	if _, ok := sec.Annotations[RotateAnnotation]; ok || sec.Annotations["keep"] != "me" || !hasLabels(sec.Labels) {
		t.Fatalf("after the rotation: annotations %v, labels %v", sec.Annotations, sec.Labels)
	}
	if got := stored(t, client); got.Equal(first) || Trusted(first, bundleOf(got), c.now) != nil {
		t.Fatal("the rotation by hand does not keep the served certificate trusted")
	}
	syncWant(t, r, "") // served: no second rotation
}
