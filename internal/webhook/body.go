package webhook

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Body buffers come from a pool: most reviews are a few KiB, and allocating
// one per request is most of what a request costs the GC. Only small
// buffers return to it, so a large body never stays resident.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// Bounds of the buffer growth.
const (
	minBuffer = 4 << 10  // the first allocation, when the pool is empty
	maxPooled = 64 << 10 // larger buffers are left to the GC
	// Below this a buffer doubles; above it grows by a quarter, so a large
	// body wastes at most a quarter of its size.
	doubleUntil = 1 << 20
)

// body is a request body read into a buffer charged to a Listener.
type body struct {
	buf     []byte
	charged int64 // cap(buf), taken from the budget
	l       *Listener
}

// free returns the buffer to the pool (when small) and its bytes to the
// budget. Nothing may use the body, or a slice of it, afterwards.
func (b *body) free() {
	if b == nil {
		return
	}
	b.l.release(b.charged)
	if b.buf != nil && cap(b.buf) <= maxPooled {
		buf := b.buf[:0]
		buffers.Put(&buf)
	}
	b.buf, b.charged = nil, 0
}

// grow replaces the buffer by one of capacity n (> its capacity), charging
// the difference first; false when the budget cannot hold it.
func (b *body) grow(n int) bool {
	if !b.l.charge(int64(n - cap(b.buf))) {
		return false
	}
	nb := make([]byte, len(b.buf), n)
	copy(nb, b.buf)
	if b.buf != nil && cap(b.buf) <= maxPooled {
		old := b.buf[:0]
		buffers.Put(&old)
	}
	b.buf, b.charged = nb, int64(n)
	return true
}

// nextCap is the capacity after cur, at most bound.
func nextCap(cur, bound int) int {
	n := 2 * cur
	if cur >= doubleUntil {
		n = cur + cur/4
	}
	return min(max(n, minBuffer), bound)
}

// failure is a request the envelope refuses: the status and the message.
type failure struct {
	code int
	msg  string
}

// readBody reads r's body, at most limit bytes, into a buffer that grows
// with the bytes received. On failure the body is nil and nothing stays
// charged.
func (l *Listener) readBody(w http.ResponseWriter, r *http.Request, limit int64, kind string) (*body, *failure) {
	tooLarge := &failure{http.StatusRequestEntityTooLarge, fmt.Sprintf("%s larger than %d bytes", kind, limit)}
	declared := r.ContentLength // -1: unknown (chunked)
	if declared > limit {
		return nil, tooLarge
	}
	if declared > 0 && !l.fits(declared) {
		return nil, l.busy()
	}
	// The buffer never grows past what the request may send: the limit, or
	// the declared length (the server's body reader stops there).
	bound := limit
	if declared >= 0 {
		bound = declared
	}
	b := &body{l: l}
	if p := buffers.Get().(*[]byte); cap(*p) > 0 {
		if !l.charge(int64(cap(*p))) {
			buffers.Put(p)
			return nil, l.busy()
		}
		b.buf, b.charged = (*p)[:0], int64(cap(*p))
	}
	src := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(b.buf) == cap(b.buf) {
			if int64(len(b.buf)) >= bound {
				// Full at the bound: one more read tells the end of the
				// body from a body that goes on.
				var probe [1]byte
				n, err := src.Read(probe[:])
				if n == 0 && errors.Is(err, io.EOF) {
					break
				}
				b.free()
				var mbe *http.MaxBytesError
				if n > 0 || errors.As(err, &mbe) {
					return nil, tooLarge
				}
				return nil, &failure{http.StatusBadRequest, "cannot read body: " + errText(err)}
			}
			if !b.grow(nextCap(cap(b.buf), int(bound))) {
				b.free()
				return nil, l.busy()
			}
		}
		n, err := src.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.free()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge
			}
			return nil, &failure{http.StatusBadRequest, "cannot read body: " + err.Error()}
		}
	}
	if len(b.buf) == 0 {
		b.free()
		return nil, &failure{http.StatusBadRequest, "empty body; expected " + article(kind)}
	}
	return b, nil
}

func errText(err error) string {
	if err == nil {
		return "no data"
	}
	return err.Error()
}

// busy is the answer to a request the budget cannot hold.
func (l *Listener) busy() *failure {
	l.rejected()
	return &failure{http.StatusServiceUnavailable, fmt.Sprintf(
		"the webhook listener holds its limit of %d bytes of request bodies; retry after %s s", l.limit, RetryAfterSeconds)}
}
