package kubeclient

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// tokenPeriod is how long a token read from the file is used before the
// file is read again. Bound service-account tokens are refreshed by the
// kubelet at 80% of their lifetime (an hour by default, ten minutes at the
// least), so a token read a minute ago is always still valid; client-go
// re-reads at the same pace.
const tokenPeriod = time.Minute

// tokenSource caches the token of a projected token file.
type tokenSource struct {
	path string
	now  func() time.Time

	mu   sync.Mutex
	tok  string
	read time.Time // when tok was read
}

func newTokenSource(path string, now func() time.Time) *tokenSource {
	return &tokenSource{path: path, now: now}
}

// token returns the cached token, reading the file again once the period
// has passed. When the file cannot be read the token in hand is kept (the
// kubelet replaces the file atomically, so a failed read is transient);
// without one the error is returned.
func (s *tokenSource) token() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.tok != "" && now.Sub(s.read) < tokenPeriod {
		return s.tok, nil
	}
	tok, err := readToken(s.path)
	if err != nil {
		if s.tok != "" {
			return s.tok, nil
		}
		return "", err
	}
	s.tok, s.read = tok, now
	return tok, nil
}

// rejected is called when the API server answered 401 to a request that
// carried used: the file is read at once, and the new token returned when
// it differs (a rotated token the period had not yet picked up).
func (s *tokenSource) rejected(used string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != used && s.tok != "" {
		// Another request already read a newer token.
		return s.tok, true
	}
	tok, err := readToken(s.path)
	if err != nil || tok == used {
		return "", false
	}
	s.tok, s.read = tok, s.now()
	return tok, true
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("service-account token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("service-account token %s is empty", path)
	}
	return tok, nil
}

// authTransport sets the bearer token and user agent on every request. A
// request answered 401 is sent once more when the token file holds a newer
// token than the one it carried (and its body can be sent again), so a
// rotation between two reads costs no failed request.
type authTransport struct {
	base      http.RoundTripper
	tokens    *tokenSource
	userAgent string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.tokens.token()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.base.RoundTrip(t.authorize(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	newer, ok := t.tokens.rejected(tok)
	if !ok || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, nil
	}
	retry := t.authorize(req, newer)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	// The first answer is dropped: read a little of it so the connection
	// can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	return t.base.RoundTrip(retry)
}

// authorize returns a copy of req with the token and user agent set (a
// RoundTripper must not change the request it is given).
func (t *authTransport) authorize(req *http.Request, tok string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	if t.userAgent != "" {
		r.Header.Set("User-Agent", t.userAgent)
	}
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
