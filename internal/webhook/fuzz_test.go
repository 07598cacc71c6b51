package webhook

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// chunks returns at most n bytes per Read, as a network connection does.
type chunks struct {
	r io.Reader
	n int
}

func (c chunks) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// declaredBody is what net/http's server hands a handler for a request
// declaring length bytes (or -1: chunked) and sending data: at most length
// bytes, and an unexpected EOF when fewer arrive.
func declaredBody(data []byte, length int64, chunk int) io.Reader {
	r := io.Reader(chunks{bytes.NewReader(data), chunk})
	if length < 0 {
		return r
	}
	return &exact{r: io.LimitReader(r, length), left: length}
}

type exact struct {
	r    io.Reader
	left int64
}

func (e *exact) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// raw answers with the body it was given.
var raw = Review[[]byte]{
	Kind:   "RawReview",
	Decode: func(b []byte) ([]byte, error) { return bytes.Clone(b), nil },
	Answer: func(_ context.Context, b []byte) (net.Buffers, error) { return net.Buffers{b}, nil },
	UID:    func([]byte) string { return "" },
	Attrs:  func([]byte) []any { return nil },
}

// FuzzReadBody: whatever is declared and however the bytes arrive, the
// endpoint answers the body exactly when it fits the limit and matches its
// declared length, 413 when it is over the limit, 400 otherwise, and
// nothing stays charged to the budget.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte(`{"a":1}`), int64(7), uint8(3), uint16(100))
	f.Add([]byte(`{"a":1}`), int64(-1), uint8(1), uint16(7))
	f.Add([]byte(`{"a":1}`), int64(-1), uint8(200), uint16(6))
	f.Add([]byte(`{"a":1}`), int64(60<<20), uint8(7), uint16(100))
	f.Add([]byte(`{"a":1}`), int64(3), uint8(7), uint16(100))
	f.Add([]byte{}, int64(0), uint8(0), uint16(0))
	f.Add(bytes.Repeat([]byte("x"), 9000), int64(9000), uint8(255), uint16(9000))
	f.Fuzz(func(t *testing.T, data []byte, declared int64, chunk uint8, limit uint16) {
		if declared < -1 {
			declared = -1
		}
		l := NewListener(ListenerOptions{MaxBytesInFlight: 1 << 20})
		h := New("raw", raw, Options{MaxBodyBytes: int64(limit) + 1, Listener: l})
		max := int64(limit) + 1
		r, err := http.NewRequest(http.MethodPost, "/raw", declaredBody(data, declared, int(chunk)+1))
		if err != nil {
			t.Fatal(err)
		}
		r.ContentLength = declared
		r.Header.Set("Content-Type", "application/json")
		w := &recorder{header: http.Header{}}
		h.ServeHTTP(w, r)

		sent := data
		if declared >= 0 && declared < int64(len(data)) {
			sent = data[:declared]
		}
		var want int
		switch {
		case declared > max || int64(len(sent)) > max:
			want = http.StatusRequestEntityTooLarge
		case declared > int64(len(data)):
			want = http.StatusBadRequest // cut short
		case len(sent) == 0:
			want = http.StatusBadRequest
		default:
			want = http.StatusOK
		}
		if w.code != want {
			t.Fatalf("declared %d, %d bytes sent, limit %d: %d %q, want %d", declared, len(data), max, w.code, w.body.String(), want)
		}
		if want == http.StatusOK && !bytes.Equal(w.body.Bytes(), sent) {
			t.Fatalf("answered %q, want %q", w.body.Bytes(), sent)
		}
		if want == http.StatusBadRequest && !strings.Contains(w.body.String(), "body") {
			t.Fatalf("400 without saying what is wrong with the body: %q", w.body.String())
		}
		if n := l.inFlight(); n != 0 {
			t.Fatalf("%d bytes still charged", n)
		}
	})
}

// recorder is a minimal ResponseWriter (httptest's is heavier for fuzzing).
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
