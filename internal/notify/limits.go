package notify

import (
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// addressLimiter counts failed authentications per remote address in a
// token bucket each; the addresses are kept in an LRU, so a flood of
// addresses costs bounded memory (an evicted address starts afresh).
type addressLimiter struct {
	r     rate.Limit
	burst int
	mu    sync.Mutex
	addrs *lru.Cache[string, *rate.Limiter]
}

func newAddressLimiter(r rate.Limit, burst, size int) *addressLimiter {
	c, _ := lru.New[string, *rate.Limiter](size)
	return &addressLimiter{r: r, burst: burst, addrs: c}
}

// blocked returns how many seconds addr must wait before its next failure
// is allowed; 0 when it may try now.
func (l *addressLimiter) blocked(addr string) int {
	lim, ok := l.addrs.Get(addr)
	if !ok || lim.Tokens() >= 1 {
		return 0
	}
	return retrySeconds(lim)
}

// fail spends one failure of addr.
func (l *addressLimiter) fail(addr string) {
	l.mu.Lock()
	lim, ok := l.addrs.Get(addr)
	if !ok {
		lim = rate.NewLimiter(l.r, l.burst)
		l.addrs.Add(addr, lim)
	}
	l.mu.Unlock()
	lim.Allow()
}

// retrySeconds is how long until lim has a token again, in whole seconds.
func retrySeconds(lim *rate.Limiter) int {
	missing := 1 - lim.Tokens()
	if missing <= 0 {
		return 1
	}
	s := math.Ceil(missing / float64(lim.Limit()))
	return int(max(1, min(s, 3600)))
}

// callerLimiter is a token bucket per allowed caller: a caller that sends
// faster is answered 429 with Retry-After, at no cost to the others.
type callerLimiter struct {
	r     rate.Limit
	burst int
	mu    sync.Mutex
	by    map[string]*rate.Limiter
}

func newCallerLimiter(r rate.Limit, burst int) *callerLimiter {
	return &callerLimiter{r: r, burst: burst, by: map[string]*rate.Limiter{}}
}

// allow spends one request of user; when none is left it returns the
// seconds to wait.
func (l *callerLimiter) allow(user string) (bool, int) {
	l.mu.Lock()
	lim := l.by[user]
	if lim == nil {
		// Only allowed callers get here: the map holds at most that many.
		lim = rate.NewLimiter(l.r, l.burst)
		l.by[user] = lim
	}
	l.mu.Unlock()
	if lim.Allow() {
		return true, 0
	}
	return false, retrySeconds(lim)
}

// capListener closes connections beyond a total and a per-address cap as
// soon as they are accepted (before the TLS handshake), so a flood of
// connections costs a file descriptor for an instant each, never a
// goroutine reading a request.
type capListener struct {
	net.Listener
	max, perAddr int
	onRefused    func()

	mu    sync.Mutex
	total int
	by    map[string]int
}

// Accept returns the next connection within the caps.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr().String())
		l.mu.Lock()
		ok := l.total < l.max && l.by[addr] < l.perAddr
		if ok {
			l.total++
			l.by[addr]++
		}
		l.mu.Unlock()
		if !ok {
			_ = c.Close()
			if l.onRefused != nil {
				l.onRefused()
			}
			continue
		}
		return &capConn{Conn: c, l: l, addr: addr}, nil
	}
}

func (l *capListener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.by[addr]--; l.by[addr] <= 0 {
		delete(l.by, addr)
	}
}

type capConn struct {
	net.Conn
	l      *capListener
	addr   string
	closed atomic.Bool
}

func (c *capConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.addr)
	}
	return c.Conn.Close()
}

// logLimiter lets through a few log lines per second about requests that
// anyone can send (refused callers, bad requests); the others are counted.
type logLimiter struct {
	lim     *rate.Limiter
	dropped func()
}

func newLogLimiter(dropped func()) *logLimiter {
	return &logLimiter{lim: rate.NewLimiter(5, 20), dropped: dropped}
}

func (l *logLimiter) allow() bool {
	if l.lim.Allow() {
		return true
	}
	l.dropped()
	return false
}

func remoteIP(r *http.Request) string { return hostOf(r.RemoteAddr) }

func hostOf(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return host
}
