package notify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/kubeclient"
)

// TokenStatus is the answer of a TokenReview.
type TokenStatus struct {
	Authenticated bool
	Username      string   // e.g. system:serviceaccount:orkestra-system:orkestra-runtime
	Audiences     []string // the audiences the token is valid for (status.audiences)
	Error         string   // why the token did not authenticate, as the API server says
}

// TokenReviewer checks a bearer token for an audience. An error means no
// decision could be made (the API server is unreachable); a token that does
// not authenticate is a TokenStatus with Authenticated false.
type TokenReviewer interface {
	Review(ctx context.Context, token, audience string) (TokenStatus, error)
}

var tokenReviews = schema.GroupVersionResource{Group: "authentication.k8s.io", Version: "v1", Resource: "tokenreviews"}

// NewTokenReviewer returns a TokenReviewer that creates
// authentication.k8s.io/v1 TokenReviews through client (the gateway's
// service account needs create on tokenreviews). Give it a client of its
// own (its own rate limiter and connections), so reviews never queue behind
// or ahead of the maintenance tick. It uses the dynamic client so the
// gateway build links neither client-go's typed clientset nor the core API
// types.
func NewTokenReviewer(client dynamic.Interface) TokenReviewer {
	return &dynamicReviewer{client: client}
}

type dynamicReviewer struct{ client dynamic.Interface }

func (r *dynamicReviewer) Review(ctx context.Context, token, audience string) (TokenStatus, error) {
	spec := map[string]any{"token": token}
	if audience != "" {
		spec["audiences"] = []any{audience}
	}
	tr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenReview",
		"spec":       spec,
	}}
	out, err := r.client.Resource(tokenReviews).Create(ctx, tr, metav1.CreateOptions{})
	if err != nil {
		return TokenStatus{}, fmt.Errorf("TokenReview: %w", err)
	}
	var st TokenStatus
	st.Authenticated, _, _ = unstructured.NestedBool(out.Object, "status", "authenticated")
	st.Username, _, _ = unstructured.NestedString(out.Object, "status", "user", "username")
	st.Audiences, _, _ = unstructured.NestedStringSlice(out.Object, "status", "audiences")
	st.Error, _, _ = unstructured.NestedString(out.Object, "status", "error")
	if st.Authenticated && st.Username == "" {
		return TokenStatus{}, errors.New("TokenReview: authenticated without a username")
	}
	return st, nil
}

// serviceAccountUser is the username a ServiceAccount's token authenticates
// as; allowedCallers entries (namespace/name) are compared in this form.
func serviceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Defaults of the authentication limits (Options.Auth).
const (
	// defaultAuthCacheTTL is how long a verdict is reused: a revoked token
	// keeps working for at most this long.
	defaultAuthCacheTTL = 10 * time.Second
	// defaultAuthCacheSize bounds the verdicts kept (least recently used
	// first out), about 200 bytes each.
	defaultAuthCacheSize = 8192
	// defaultReviewRate and defaultReviewBurst are the TokenReviews per
	// second the gateway makes for tokens it has not seen authenticate.
	defaultReviewRate  = 20
	defaultReviewBurst = 40
	// defaultMaxReviews bounds the TokenReviews in flight.
	defaultMaxReviews = 8
	// defaultFailureRate and defaultFailureBurst bound the failed
	// authentications of one remote address; beyond them it is answered
	// 429 without a TokenReview.
	defaultFailureRate  = 1
	defaultFailureBurst = 10
	// defaultAddresses bounds the remote addresses whose failures are counted.
	defaultAddresses = 4096
	reviewTimeout    = 5 * time.Second
)

// AuthLimits bound what authenticating callers may cost. Zero fields take
// the defaults above.
type AuthLimits struct {
	CacheTTL     time.Duration
	CacheSize    int
	ReviewRate   float64 // per second, for tokens not seen authenticated before
	ReviewBurst  int
	MaxReviews   int     // TokenReviews in flight
	FailureRate  float64 // failed authentications per second and remote address
	FailureBurst int
}

func (l *AuthLimits) defaults() {
	orDefault(&l.CacheTTL, defaultAuthCacheTTL)
	orDefault(&l.CacheSize, defaultAuthCacheSize)
	orDefault(&l.ReviewRate, defaultReviewRate)
	orDefault(&l.ReviewBurst, defaultReviewBurst)
	orDefault(&l.MaxReviews, defaultMaxReviews)
	orDefault(&l.FailureRate, defaultFailureRate)
	orDefault(&l.FailureBurst, defaultFailureBurst)
}

// authenticator checks the bearer token of a request. Verdicts are cached by
// the token's SHA-256 (the token itself is never kept) in an LRU; one
// TokenReview per token is in flight at a time; tokens never seen valid
// share a budget of reviews, and a remote address that keeps failing is
// answered 429 without one.
type authenticator struct {
	reviewer TokenReviewer
	allowed  map[string]bool // usernames
	audience string
	lim      AuthLimits

	cache   *lru.Cache[[sha256.Size]byte, authEntry]
	flight  singleflight.Group
	reviews *rate.Limiter // for tokens not seen valid
	slots   chan struct{} // TokenReviews in flight
	fails   *addressLimiter
	now     func() time.Time
	// reviewed is told the outcome of every TokenReview made.
	reviewed func(error)
}

type authEntry struct {
	st      TokenStatus
	expires time.Time
	valid   bool // authenticated for the audience (allowed or not)
}

func newAuthenticator(r TokenReviewer, allowedCallers []string, audience string, lim AuthLimits) *authenticator {
	lim.defaults()
	cache, _ := lru.New[[sha256.Size]byte, authEntry](lim.CacheSize)
	a := &authenticator{reviewer: r, allowed: map[string]bool{}, audience: audience, lim: lim, cache: cache,
		reviews: rate.NewLimiter(rate.Limit(lim.ReviewRate), lim.ReviewBurst),
		slots:   make(chan struct{}, lim.MaxReviews),
		fails:   newAddressLimiter(rate.Limit(lim.FailureRate), lim.FailureBurst, defaultAddresses),
		now:     time.Now,
	}
	for _, c := range allowedCallers {
		if ns, sa, ok := strings.Cut(c, "/"); ok {
			a.allowed[serviceAccountUser(ns, sa)] = true
		}
	}
	return a
}

// refusal is a refused request: its HTTP status, the metric reason and
// what the caller is told.
type refusal struct {
	status int
	reason string
	msg    string // what the caller is told
	detail string // logged only: callers are not authenticated yet
	retry  int    // Retry-After in seconds, 0 for none
}

func (e *refusal) Error() string { return e.msg }

// errReviewBusy is a TokenReview not made because the budget is spent.
var errReviewBusy = errors.New("the TokenReview budget is spent")

// check returns the caller's username, or a *refusal. Before the caller is
// authenticated it answers only 401, or 429 to an address that keeps
// failing.
func (a *authenticator) check(r *http.Request) (string, *refusal) {
	addr := remoteIP(r)
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		if rf := a.throttled(addr); rf != nil {
			return "", rf
		}
		return "", a.failed(addr, &refusal{status: http.StatusUnauthorized, reason: authMissing,
			msg: "missing bearer token: send Authorization: Bearer <service account token>"})
	}
	key := sha256.Sum256([]byte(token))
	e, cached := a.cache.Get(key)
	fresh := cached && a.now().Before(e.expires)
	// A token seen valid before is reviewed again whatever its address did;
	// any other token from an address over its failures is not reviewed.
	if !(cached && e.valid) {
		if rf := a.throttled(addr); rf != nil {
			return "", rf
		}
	}
	if !fresh {
		v, err, _ := a.flight.Do(string(key[:]), func() (any, error) { return a.review(token, key, cached && e.valid) })
		if err != nil {
			rf := &refusal{status: http.StatusUnauthorized, reason: authUnavailable,
				msg: "the token cannot be verified now; retry later", detail: err.Error(), retry: retryAuthFailed}
			if errors.Is(err, errReviewBusy) {
				rf.reason = authBusy
			}
			return "", rf
		}
		e = v.(authEntry)
	}
	st := e.st
	switch {
	case !st.Authenticated:
		msg := "the bearer token is not valid"
		if a.audience != "" {
			msg = fmt.Sprintf("the bearer token is not valid for the audience %q: send a projected service account token with that audience", a.audience)
		}
		return "", a.failed(addr, &refusal{status: http.StatusUnauthorized, reason: authInvalid, msg: msg})
	case !e.valid:
		return "", a.failed(addr, &refusal{status: http.StatusUnauthorized, reason: authAudience,
			msg: fmt.Sprintf("the bearer token is not for the audience %q: mount a projected service account token with that audience", a.audience)})
	case !a.allowed[st.Username]:
		return st.Username, a.failed(addr, &refusal{status: http.StatusForbidden, reason: authForbidden,
			msg: fmt.Sprintf("%s is not allowed to send notifications: add its namespace/serviceaccount to notification.allowedCallers", st.Username)})
	}
	return st.Username, nil
}

// throttled is the 429 for an address over its failures, nil otherwise.
func (a *authenticator) throttled(addr string) *refusal {
	if wait := a.fails.blocked(addr); wait > 0 {
		return &refusal{status: http.StatusTooManyRequests, reason: authThrottled,
			msg: "too many failed authentications from this address; retry later", retry: wait}
	}
	return nil
}

// failed counts a failed authentication of addr and returns rf.
func (a *authenticator) failed(addr string, rf *refusal) *refusal {
	a.fails.fail(addr)
	return rf
}

// review makes one TokenReview and caches its verdict; errors are not
// cached. known says the token authenticated before: its review does not
// wait for the budget of unknown tokens.
func (a *authenticator) review(token string, key [sha256.Size]byte, known bool) (authEntry, error) {
	if !known && !a.reviews.Allow() {
		return authEntry{}, errReviewBusy
	}
	ctx, cancel := context.WithTimeout(context.Background(), reviewTimeout)
	defer cancel()
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		return authEntry{}, errReviewBusy
	}
	st, err := a.reviewer.Review(ctx, token, a.audience)
	if a.reviewed != nil {
		a.reviewed(err)
	}
	if err != nil {
		return authEntry{}, err
	}
	e := authEntry{st: st, expires: a.now().Add(a.lim.CacheTTL)}
	e.valid = st.Authenticated && (a.audience == "" || slices.Contains(st.Audiences, a.audience))
	a.cache.Add(key, e)
	return e, nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Budget of the TokenReview client: its own rate limiter, above the
// authenticator's own budget of reviews so the authenticator decides.
const (
	reviewClientQPS   = 50
	reviewClientBurst = 100
)

// ReviewClient returns a client for TokenReviews on the gateway's cluster
// that shares nothing with its other clients: its own rate limiter and its
// own connections, so a flood of tokens to review can neither delay the
// maintenance tick nor be delayed by it.
func ReviewClient(cluster *kubeclient.Cluster, userAgent string) (dynamic.Interface, error) {
	return cluster.Dynamic(kubeclient.Options{
		UserAgent: userAgent + " (notify TokenReviews)",
		QPS:       reviewClientQPS,
		Burst:     reviewClientBurst,
		Timeout:   reviewTimeout,
	})
}
