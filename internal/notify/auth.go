package notify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// TokenStatus is the answer of a TokenReview.
type TokenStatus struct {
	Authenticated bool
	Username      string // e.g. system:serviceaccount:orkestra-system:orkestra-runtime
	Error         string // why the token did not authenticate, as the API server says
}

// TokenReviewer checks a bearer token. An error means no decision could be
// made (the API server is unreachable); a token that does not authenticate
// is a TokenStatus with Authenticated false.
type TokenReviewer interface {
	Review(ctx context.Context, token string) (TokenStatus, error)
}

var tokenReviews = schema.GroupVersionResource{Group: "authentication.k8s.io", Version: "v1", Resource: "tokenreviews"}

// NewTokenReviewer returns a TokenReviewer that creates
// authentication.k8s.io/v1 TokenReviews through client (the gateway's
// service account needs create on tokenreviews). It uses the dynamic client
// so the gateway build links neither client-go's typed clientset nor the
// core API types.
func NewTokenReviewer(client dynamic.Interface) TokenReviewer {
	return &dynamicReviewer{client: client}
}

type dynamicReviewer struct{ client dynamic.Interface }

func (r *dynamicReviewer) Review(ctx context.Context, token string) (TokenStatus, error) {
	tr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenReview",
		"spec":       map[string]any{"token": token},
	}}
	out, err := r.client.Resource(tokenReviews).Create(ctx, tr, metav1.CreateOptions{})
	if err != nil {
		return TokenStatus{}, fmt.Errorf("TokenReview: %w", err)
	}
	var st TokenStatus
	st.Authenticated, _, _ = unstructured.NestedBool(out.Object, "status", "authenticated")
	st.Username, _, _ = unstructured.NestedString(out.Object, "status", "user", "username")
	st.Error, _, _ = unstructured.NestedString(out.Object, "status", "error")
	if st.Authenticated && st.Username == "" {
		return TokenStatus{}, errors.New("TokenReview: authenticated without a username")
	}
	return st, nil
}

// ServiceAccountUser is the username a ServiceAccount's token authenticates
// as; allowedCallers entries (namespace/name) are compared in this form.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Auth cache bounds: a verdict is reused for a short time (a revoked token
// keeps working for at most the TTL), and the cache cannot grow without
// bound under a flood of distinct tokens.
const (
	DefaultAuthCacheTTL = 10 * time.Second
	maxAuthCacheEntries = 4096
)

// authenticator checks the bearer token of a request, caching TokenReview
// verdicts by the token's SHA-256 (the token itself is never kept).
type authenticator struct {
	reviewer TokenReviewer
	allowed  map[string]bool // usernames
	ttl      time.Duration
	timeout  time.Duration // of one TokenReview

	mu    sync.Mutex
	cache map[[sha256.Size]byte]authEntry
}

type authEntry struct {
	st      TokenStatus
	expires time.Time
}

func newAuthenticator(r TokenReviewer, allowedCallers []string, ttl time.Duration) *authenticator {
	a := &authenticator{reviewer: r, allowed: map[string]bool{}, ttl: ttl, timeout: 5 * time.Second,
		cache: map[[sha256.Size]byte]authEntry{}}
	for _, c := range allowedCallers {
		if ns, sa, ok := strings.Cut(c, "/"); ok {
			a.allowed[ServiceAccountUser(ns, sa)] = true
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
}

func (e *refusal) Error() string { return e.msg }

// check returns the caller's username, or a *refusal.
func (a *authenticator) check(ctx context.Context, r *http.Request) (string, error) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return "", &refusal{status: http.StatusUnauthorized, reason: authMissing, msg: "missing bearer token: send Authorization: Bearer <service account token>"}
	}
	st, err := a.review(ctx, token)
	if err != nil {
		return "", &refusal{status: http.StatusServiceUnavailable, reason: authUnavailable, msg: "cannot verify the token now; retry later", detail: err.Error()}
	}
	if !st.Authenticated {
		return "", &refusal{status: http.StatusUnauthorized, reason: authInvalid, msg: "the bearer token is not valid"}
	}
	if !a.allowed[st.Username] {
		return st.Username, &refusal{status: http.StatusForbidden, reason: authForbidden,
			msg: fmt.Sprintf("%s is not allowed to send notifications: add its namespace/serviceaccount to notification.allowedCallers", st.Username)}
	}
	return st.Username, nil
}

func (a *authenticator) review(ctx context.Context, token string) (TokenStatus, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	a.mu.Lock()
	e, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.st, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	st, err := a.reviewer.Review(ctx, token)
	if err != nil {
		return TokenStatus{}, err // not cached: the next request asks again
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxAuthCacheEntries {
		for k, v := range a.cache {
			if !now.Before(v.expires) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= maxAuthCacheEntries {
			clear(a.cache) // a flood of distinct tokens: start over
		}
	}
	a.cache[key] = authEntry{st: st, expires: now.Add(a.ttl)}
	return st, nil
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
