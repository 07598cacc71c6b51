package webhook

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// A body is read into chunks that are allocated as bytes arrive, then,
// when it took more than one, copied once into a buffer of its exact size.
// Growing one buffer instead would allocate about five times a large body
// before it is complete (each step copies the last); chunks allocate it
// twice at most, and what stays is exactly the body. The first chunk comes
// from a pool: most reviews are a few KiB and fit in it, and allocating one
// per request is most of what a request costs the GC. Only small chunks
// return to the pool, so a large body never stays resident.
var chunkPool = sync.Pool{New: func() any { return new([]byte) }}

// Bounds of the chunks.
const (
	minChunk  = 4 << 10  // the first one, when the pool is empty
	maxPooled = 64 << 10 // larger chunks are left to the GC
	maxChunk  = 1 << 20  // chunks double up to this size
)

// body is a request body charged to a Listener: while it is read, its
// chunks; once read, buf (the whole body).
type body struct {
	chunks  [][]byte
	buf     []byte
	charged int64
	l       *Listener
	one     [1][]byte // chunks' first backing array: most bodies take one chunk
}

// free returns small chunks to the pool and every byte to the budget.
// Nothing may use the body, or a slice of it, afterwards.
func (b *body) free() {
	if b == nil {
		return
	}
	if b.buf != nil {
		b.chunks = append(b.chunks, b.buf)
	}
	recycle(b.chunks)
	b.l.release(b.charged)
	b.chunks, b.buf, b.charged = nil, nil, 0
}

// recycle returns the largest of chunks to the pool when it is small
// enough: the pool then holds chunks that fit the usual review whole, so
// the next one needs no second chunk and no copy.
func recycle(chunks [][]byte) {
	var best []byte
	for _, c := range chunks {
		if cap(c) > cap(best) && cap(c) <= maxPooled {
			best = c
		}
	}
	if cap(best) > 0 {
		best = best[:0]
		chunkPool.Put(&best)
	}
}

// newChunk adds a chunk of capacity n, charging it first; false when the
// budget cannot hold it.
func (b *body) newChunk(n int) bool {
	if len(b.chunks) == 0 {
		if p := chunkPool.Get().(*[]byte); cap(*p) > 0 {
			if !b.l.charge(int64(cap(*p))) {
				chunkPool.Put(p)
				return false
			}
			b.chunks, b.charged = append(b.chunks, (*p)[:0]), b.charged+int64(cap(*p))
			return true
		}
	}
	if !b.l.charge(int64(n)) {
		return false
	}
	b.chunks, b.charged = append(b.chunks, make([]byte, 0, n)), b.charged+int64(n)
	return true
}

// nextChunk is the size of the chunk after one of size last, when at most
// left bytes may still come.
func nextChunk(last int, left int64) int {
	n := min(max(2*last, minChunk), maxChunk)
	return int(min(int64(n), max(left, 1)))
}

// size is the number of bytes read so far.
func (b *body) size() int64 {
	var n int64
	for _, c := range b.chunks {
		n += int64(len(c))
	}
	return n
}

// join makes buf the whole body: the only chunk, or one exact copy of
// all. The copy takes the chunks' place in the budget (it is never larger):
// both exist only while it is made.
func (b *body) join() {
	if len(b.chunks) == 1 {
		b.buf, b.chunks = b.chunks[0], b.one[:0]
		return
	}
	n := b.size()
	buf := make([]byte, 0, n)
	for _, c := range b.chunks {
		buf = append(buf, c...)
	}
	recycle(b.chunks)
	b.l.release(b.charged - n)
	b.chunks, b.buf, b.charged = b.one[:0], buf, n
}

// failure is a request the envelope refuses: the status and the message.
type failure struct {
	code int
	msg  string
}

// readBody reads r's body, at most limit bytes, into chunks allocated as
// the bytes arrive. On failure the body is nil and nothing stays charged.
func (l *Listener) readBody(w http.ResponseWriter, r *http.Request, limit int64, kind string) (*body, *failure) {
	declared := r.ContentLength // -1: unknown (chunked)
	if declared > limit {
		return nil, tooLarge(kind, limit)
	}
	if declared > 0 && !l.fits(declared) {
		return nil, l.busy()
	}
	// No chunk reaches past what the request may send: the limit, or the
	// declared length (the server's body reader stops there).
	bound := limit
	if declared >= 0 {
		bound = declared
	}
	b := &body{l: l}
	b.chunks = b.one[:0]
	if f := b.read(http.MaxBytesReader(w, r.Body, limit), bound, limit, kind); f != nil {
		b.free()
		return nil, f
	}
	b.join()
	return b, nil
}

// read fills the chunks from src until its end.
func (b *body) read(src io.Reader, bound, limit int64, kind string) *failure {
	var read int64
	for {
		var cur []byte
		if len(b.chunks) > 0 {
			cur = b.chunks[len(b.chunks)-1]
		}
		if len(cur) == cap(cur) {
			if read >= bound {
				// Full at the bound: one more read tells the end of the body
				// from a body that goes on.
				if f := b.end(src, limit, kind); f != nil {
					return f
				}
				break
			}
			if !b.newChunk(nextChunk(cap(cur), bound-read)) {
				return b.l.busy()
			}
			cur = b.chunks[len(b.chunks)-1]
		}
		n, err := src.Read(cur[len(cur):cap(cur)])
		b.chunks[len(b.chunks)-1] = cur[:len(cur)+n]
		read += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readFailure(err, kind, limit)
		}
	}
	if read == 0 {
		return &failure{http.StatusBadRequest, "empty body; expected " + article(kind)}
	}
	return nil
}

// end checks that src has nothing after the bound.
func (b *body) end(src io.Reader, limit int64, kind string) *failure {
	var probe [1]byte
	n, err := src.Read(probe[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return nil
	case n > 0:
		return tooLarge(kind, limit)
	case err == nil:
		return &failure{http.StatusBadRequest, "cannot read body: no data"}
	}
	return readFailure(err, kind, limit)
}

func readFailure(err error, kind string, limit int64) *failure {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(kind, limit)
	}
	return &failure{http.StatusBadRequest, "cannot read body: " + err.Error()}
}

func tooLarge(kind string, limit int64) *failure {
	return &failure{http.StatusRequestEntityTooLarge, fmt.Sprintf("%s larger than %d bytes", kind, limit)}
}

// busy is the answer to a request the budget cannot hold.
func (l *Listener) busy() *failure {
	l.rejected()
	return &failure{http.StatusServiceUnavailable, fmt.Sprintf(
		"the webhook listener holds its limit of %d bytes of request bodies; retry after %s s", l.limit, retryAfterSeconds)}
}
