package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Review is what a review type supplies to the envelope: the only parts
// that differ between an AdmissionReview and a ConversionReview.
type Review[Req any] struct {
	// Kind names the review in messages ("AdmissionReview").
	Kind string
	// Decode reads a request from a body. Its error is answered 400 with
	// the error's text, so it must say precisely what is wrong. The request
	// may keep slices of body until Answer returns, not longer.
	Decode func(body []byte) (Req, error)
	// Answer decides a request and returns the encoded review to answer
	// with (200), in pieces written one after the other (a large answer
	// need not be copied into one buffer). An error is a failure of the
	// webhook, not of the request: it is answered 500 with its text and
	// logged.
	Answer func(ctx context.Context, req Req) (net.Buffers, error)
	// UID is the request's UID, for the message of a 500.
	UID func(req Req) string
	// Attrs are the log attributes that identify a request.
	Attrs func(req Req) []any
	// Operation, when set, is the request's operation (CREATE, UPDATE,
	// DELETE, CONNECT), the operation label of the requests metric. It
	// must return one of a fixed set of values.
	Operation func(req Req) string
}

// Options are the dependencies of one endpoint; every field is optional.
type Options struct {
	// MaxBodyBytes bounds the body (413 beyond). Default 1 MiB.
	MaxBodyBytes int64
	// Listener is shared by every endpoint of the listener. Nil: a
	// private one without a budget, logging to Logger.
	Listener *Listener
	// Logger is the logger of the private Listener when Listener is nil.
	Logger *slog.Logger
	// Metrics receives the endpoint's requests and latency. Nil: private,
	// unregistered collectors.
	Metrics *Metrics
	// Operations are the operations the endpoint receives: the series of
	// each are created at zero when it is built (with a Metrics counting
	// operations).
	Operations []string
	// OnFailure, when set, is called with the status of every answer
	// that is not 200 and the request's operation (empty when its review
	// was not read), for the review type's own counters.
	OnFailure func(code int, operation string)
}

// defaultMaxBodyBytes is the body limit when Options.MaxBodyBytes is unset.
const defaultMaxBodyBytes = 1 << 20

// New returns the http.Handler of the webhook called name, answering
// reviews of type r. It never panics.
func New[Req any](name string, r Review[Req], o Options) http.Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBodyBytes
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(MetricsOptions{RequestsName: "webhook_requests_total", DurationName: "webhook_duration_seconds"})
	}
	if o.Listener == nil {
		o.Listener = NewListener(ListenerOptions{Logger: o.Logger})
	}
	log := o.Listener.log
	return &endpoint[Req]{name: name, r: r, o: o, log: log.With("webhook", name), s: o.Metrics.endpoint(name, o.Operations)}
}

type endpoint[Req any] struct {
	name string
	r    Review[Req]
	o    Options
	log  *slog.Logger
	s    *series
}

func (e *endpoint[Req]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, op := e.serve(w, r)
	e.s.count(op, code)
	e.s.duration.Observe(time.Since(start).Seconds())
	if code != http.StatusOK && e.o.OnFailure != nil {
		e.o.OnFailure(code, op)
	}
}

// serve answers r and returns the status written and the request's
// operation (empty when its review was not read).
func (e *endpoint[Req]) serve(w http.ResponseWriter, r *http.Request) (code int, op string) {
	if len(r.TransferEncoding) > 0 {
		// A chunked request may also have declared a Content-Length, which
		// the server dropped (RFC 9112, 6.3): the connection must not carry
		// another request. The API server always sends a Content-Length.
		w.Header().Set("Connection", "close")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return e.refuse(w, r, &failure{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; %s is sent with POST", r.Method, article(e.r.Kind))}), ""
	}
	if msg := checkContentType(r.Header.Get("Content-Type"), e.r.Kind); msg != "" {
		return e.refuse(w, r, &failure{http.StatusUnsupportedMediaType, msg}), ""
	}
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !(len(ce) == 1 && strings.EqualFold(ce[0], "identity")) {
		// The API server never compresses a review; decoding one would only
		// multiply what a request can make the gateway hold.
		return e.refuse(w, r, &failure{http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Encoding %q; %s is sent uncompressed", strings.Join(ce, ", "), article(e.r.Kind))}), ""
	}
	b, f := e.o.Listener.readBody(w, r, e.o.MaxBodyBytes, e.r.Kind)
	if f != nil {
		return e.refuse(w, r, f), ""
	}
	defer b.free() // nothing keeps the body, or a slice of it, past serve
	req, err := e.r.Decode(b.buf)
	if err != nil {
		return e.refuse(w, r, &failure{http.StatusBadRequest, err.Error()}), ""
	}
	if e.r.Operation != nil {
		op = e.r.Operation(req)
	}
	out, p, err := e.answer(r.Context(), req)
	switch {
	case p != nil:
		e.o.Listener.panicked()
		e.log.Error("webhook handler panicked", append(e.r.Attrs(req), "panic", fmt.Sprint(p.value), "stack", string(p.stack))...)
		http.Error(w, fmt.Sprintf("webhook %s failed on request %s: internal error", e.name, e.r.UID(req)), http.StatusInternalServerError)
		return http.StatusInternalServerError, op
	case err != nil:
		e.log.Error("webhook handler failed", append(e.r.Attrs(req), "err", err.Error())...)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return http.StatusInternalServerError, op
	}
	n := 0
	for _, b := range out {
		n += len(b)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	for _, b := range out {
		if _, err := w.Write(b); err != nil {
			break // the client went away
		}
	}
	return http.StatusOK, op
}

// refuse answers a request that got no review: the API server treats any
// answer but 200 as a failed call and applies the failure policy.
func (e *endpoint[Req]) refuse(w http.ResponseWriter, r *http.Request, f *failure) int {
	if f.code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	e.o.Listener.badRequest("bad webhook request", "webhook", e.name, "code", f.code, "err", f.msg, "remote", r.RemoteAddr)
	http.Error(w, f.msg, f.code)
	return f.code
}

// recovered is a panic: its value and the stack where it happened.
type recovered struct {
	value any
	stack []byte
}

// answer runs Answer, turning a panic into a value.
func (e *endpoint[Req]) answer(ctx context.Context, req Req) (out net.Buffers, p *recovered, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, p, err = nil, &recovered{value: v, stack: debug.Stack()}, nil
		}
	}()
	out, err = e.r.Answer(ctx, req)
	return out, nil, err
}

// checkContentType returns why ct is not JSON in UTF-8, "" when it is.
func checkContentType(ct, kind string) string {
	if ct == "" {
		return "missing Content-Type; " + article(kind) + " must be sent as application/json"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("malformed Content-Type %q: %v", ct, err)
	}
	if mt != "application/json" {
		return fmt.Sprintf("unsupported Content-Type %q; %s must be sent as application/json", mt, article(kind))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("unsupported charset %q; JSON must be UTF-8", cs)
	}
	return ""
}

// article prefixes a review kind with "a" or "an".
func article(kind string) string {
	if kind != "" && strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
