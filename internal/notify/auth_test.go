package notify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":     "abc",
		"bearer  abc ":   "abc",
		"BEARER abc":     "abc",
		"Bearer":         "",
		"Bearer ":        "",
		"Basic dXNlcjpw": "",
		"abc":            "",
		"":               "",
	} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}

func TestAuthCacheIsAnLRU(t *testing.T) {
	f := newFakeReviewer()
	a := newAuthenticator(f, []string{"orkestra-system/orkestra-runtime"}, "orkestra-gateway", AuthLimits{CacheSize: 100, CacheTTL: time.Minute, ReviewRate: 1e6, ReviewBurst: 1e6})
	review := func(tok string) {
		t.Helper()
		key := sha256.Sum256([]byte(tok))
		if _, err := a.review(tok, key, false); err != nil {
			t.Fatal(err)
		}
	}
	review(runtimeToken)
	for i := range 200 {
		review("token-" + strconv.Itoa(i))
		// The allowed caller keeps using its token: it stays cached
		// however many other tokens pass.
		if _, rf := a.check(request(runtimeToken, "10.0.0.1:1")); rf != nil {
			t.Fatalf("allowed caller refused: %v", rf)
		}
	}
	if n := a.cache.Len(); n > 100 {
		t.Errorf("cache holds %d entries, bound 100", n)
	}
	if n := f.count(); n != 201 {
		t.Errorf("%d TokenReviews, want 201: the allowed caller's verdict was evicted", n)
	}
}

func request(token, remote string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notify", nil)
	r.RemoteAddr = remote
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// slowReviewer holds every review until released, counting them.
type slowReviewer struct {
	*fakeReviewer
	release chan struct{}
}

func (s *slowReviewer) Review(ctx context.Context, token, audience string) (TokenStatus, error) {
	<-s.release
	return s.fakeReviewer.Review(ctx, token, audience)
}

// Concurrent requests with one token make one TokenReview.
func TestOneReviewInFlightPerToken(t *testing.T) {
	f := &slowReviewer{fakeReviewer: newFakeReviewer(), release: make(chan struct{})}
	a := newAuthenticator(f, []string{"orkestra-system/orkestra-runtime"}, "orkestra-gateway", AuthLimits{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, rf := a.check(request(runtimeToken, fmt.Sprintf("10.0.0.%d:1", i))); rf != nil {
				t.Errorf("refused: %v", rf)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them all reach the review
	close(f.release)
	wg.Wait()
	if n := f.count(); n != 1 {
		t.Errorf("20 concurrent requests with one token made %d TokenReviews, want 1", n)
	}
}

// An address that keeps failing gets 429 without a TokenReview; another
// address, and a token seen valid from the same address, still get through.
func TestFailedAuthenticationsPerAddress(t *testing.T) {
	f := newFakeReviewer()
	a := newAuthenticator(f, []string{"orkestra-system/orkestra-runtime"}, "orkestra-gateway", AuthLimits{FailureRate: 0.5, FailureBurst: 5})
	if _, rf := a.check(request(runtimeToken, "10.0.0.1:1")); rf != nil {
		t.Fatal(rf)
	}
	for i := range 5 {
		_, rf := a.check(request("bogus-"+strconv.Itoa(i), "10.0.0.1:2"))
		if rf == nil || rf.status != http.StatusUnauthorized {
			t.Fatalf("bogus token %d: %+v", i, rf)
		}
	}
	before := f.count()
	_, rf := a.check(request("bogus-next", "10.0.0.1:3"))
	if rf == nil || rf.status != http.StatusTooManyRequests || rf.retry < 1 {
		t.Fatalf("beyond the failures of the address: %+v", rf)
	}
	if _, rf := a.check(request("", "10.0.0.1:3")); rf == nil || rf.status != http.StatusTooManyRequests {
		t.Errorf("no token beyond the failures: %+v", rf)
	}
	if f.count() != before {
		t.Error("a throttled address still caused a TokenReview")
	}
	if _, rf := a.check(request(runtimeToken, "10.0.0.1:4")); rf != nil {
		t.Errorf("the allowed token from the same address: %v", rf)
	}
	if _, rf := a.check(request("bogus-other", "10.0.0.2:1")); rf == nil || rf.status != http.StatusUnauthorized {
		t.Errorf("another address: %+v", rf)
	}
}

// Unknown tokens share a budget of reviews: beyond it they are answered 401
// with Retry-After at once, and a token seen valid is still reviewed.
func TestReviewBudget(t *testing.T) {
	f := newFakeReviewer()
	a := newAuthenticator(f, []string{"orkestra-system/orkestra-runtime"}, "orkestra-gateway", AuthLimits{ReviewRate: 0.001, ReviewBurst: 2, CacheTTL: time.Millisecond})
	if _, rf := a.check(request(runtimeToken, "10.0.0.1:1")); rf != nil {
		t.Fatal(rf)
	}
	a.check(request("bogus-1", "10.0.0.2:1"))
	_, rf := a.check(request("bogus-2", "10.0.0.3:1"))
	if rf == nil || rf.status != http.StatusUnauthorized || rf.reason != authBusy || rf.retry == 0 {
		t.Fatalf("beyond the review budget: %+v", rf)
	}
	time.Sleep(5 * time.Millisecond) // the allowed caller's verdict expires
	if _, rf := a.check(request(runtimeToken, "10.0.0.1:1")); rf != nil {
		t.Errorf("a token seen valid, reviewed again with the budget spent: %v", rf)
	}
	if n := f.count(); n != 3 {
		t.Errorf("%d reviews, want 3", n)
	}
}

// TestTokenReviewAgainstAPIServer checks tokens with a real kube-apiserver:
// the allowed ServiceAccount gets through, another one is refused 403, and
// a token the API server did not issue is 401.
func TestTokenReviewAgainstAPIServer(t *testing.T) {
	env := controlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	allowed, err := env.ServiceAccountTokenFor(ctx, "orkestra-system", "orkestra-runtime", 0, "orkestra-gateway")
	if err != nil {
		t.Fatal(err)
	}
	// The same service account's token for the API server's audience.
	noAudience, err := env.ServiceAccountToken(ctx, "orkestra-system", "orkestra-runtime", 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := env.ServiceAccountTokenFor(ctx, "default", "intruder", 0, "orkestra-gateway")
	if err != nil {
		t.Fatal(err)
	}

	rv := NewTokenReviewer(env.Dynamic)
	st, err := rv.Review(ctx, allowed, "orkestra-gateway")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Authenticated || st.Username != "system:serviceaccount:orkestra-system:orkestra-runtime" || !slices.Contains(st.Audiences, "orkestra-gateway") {
		t.Errorf("allowed token: %+v", st)
	}
	st, err = rv.Review(ctx, noAudience, "orkestra-gateway")
	if err != nil {
		t.Fatal(err)
	}
	if st.Authenticated && slices.Contains(st.Audiences, "orkestra-gateway") {
		t.Errorf("a token for the API server passed for the gateway's audience: %+v", st)
	}
	st, err = rv.Review(ctx, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "orkestra-gateway")
	if err != nil {
		t.Fatal(err)
	}
	if st.Authenticated || st.Username != "" {
		t.Errorf("forged token authenticated: %+v", st)
	}

	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) { o.Reviewer = rv }})
	h.post(allowed, eventBody("platform"), "?wait=true").want(t, http.StatusOK)
	r := h.post(other, eventBody("platform", "crName", "x"), "").want(t, http.StatusForbidden)
	if !strings.Contains(r.ans.Error, "system:serviceaccount:default:intruder") {
		t.Errorf("403: %q", r.ans.Error)
	}
	h.post("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", eventBody("platform", "crName", "y"), "").want(t, http.StatusUnauthorized)
	r = h.post(noAudience, eventBody("platform", "crName", "z"), "").want(t, http.StatusUnauthorized)
	if !strings.Contains(r.ans.Error, "audience") {
		t.Errorf("401 for a token without the audience: %q", r.ans.Error)
	}
	if n := len(h.slack.Delivered()); n != 1 {
		t.Errorf("delivered %d, want only the allowed caller's event", n)
	}
}
