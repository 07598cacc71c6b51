package notify

import (
	"context"
	"net/http"
	"strconv"
	"strings"
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

func TestAuthCacheIsBounded(t *testing.T) {
	f := newFakeReviewer()
	a := newAuthenticator(f, []string{"orkestra-system/orkestra-runtime"}, time.Minute)
	for i := range maxAuthCacheEntries + 10 {
		if _, err := a.review(context.Background(), "token-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.cache); n > maxAuthCacheEntries {
		t.Errorf("cache holds %d entries, bound %d", n, maxAuthCacheEntries)
	}
	// A verdict still in the cache is reused.
	before := f.count()
	if _, err := a.review(context.Background(), "token-"+strconv.Itoa(maxAuthCacheEntries+9)); err != nil {
		t.Fatal(err)
	}
	if f.count() != before {
		t.Error("the newest verdict was not cached")
	}
}

// TestTokenReviewAgainstAPIServer checks tokens with a real kube-apiserver:
// the allowed ServiceAccount gets through, another one is refused 403, and
// a token the API server did not issue is 401.
func TestTokenReviewAgainstAPIServer(t *testing.T) {
	env := controlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	allowed, err := env.ServiceAccountToken(ctx, "orkestra-system", "orkestra-runtime", 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := env.ServiceAccountToken(ctx, "default", "intruder", 0)
	if err != nil {
		t.Fatal(err)
	}

	rv := NewTokenReviewer(env.Dynamic)
	st, err := rv.Review(ctx, allowed)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Authenticated || st.Username != "system:serviceaccount:orkestra-system:orkestra-runtime" {
		t.Errorf("allowed token: %+v", st)
	}
	st, err = rv.Review(ctx, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	if err != nil {
		t.Fatal(err)
	}
	if st.Authenticated || st.Username != "" {
		t.Errorf("forged token authenticated: %+v", st)
	}

	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) { o.Reviewer = rv }})
	h.post(allowed, event("platform"), "?wait=true").want(t, http.StatusOK)
	r := h.post(other, event("platform", "crName", "x"), "").want(t, http.StatusForbidden)
	if !strings.Contains(r.ans.Error, "system:serviceaccount:default:intruder") {
		t.Errorf("403: %q", r.ans.Error)
	}
	h.post("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", event("platform", "crName", "y"), "").want(t, http.StatusUnauthorized)
	if n := len(h.slack.Delivered()); n != 1 {
		t.Errorf("delivered %d, want only the allowed caller's event", n)
	}
}
