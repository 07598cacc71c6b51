// Package admission serves the gateway's admission webhooks: the HTTP
// envelope (Serve), the handlers built from the compiled policy, and Review,
// which runs every matching handler the way the API server would so that
// `ork gateway eval` and the server share one code path.
//
// Handlers decide from the request and the policy alone: no API server call,
// no HTTP, no DNS on this path.
package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
)

// Handler decides one admission request. It must return a response (never
// nil); Serve fills in the UID.
type Handler interface {
	Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

func (f HandlerFunc) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return f(ctx, req)
}

// DefaultMaxBodyBytes bounds an AdmissionReview body: the API server accepts
// objects up to 3 MiB and an UPDATE carries two of them, plus the envelope
// (userInfo, options) and slack for JSON re-encoding.
const DefaultMaxBodyBytes = 8 << 20

// ServeOptions are the dependencies of Serve; every field is optional.
type ServeOptions struct {
	// Logger receives one line per denial, per malformed review and per
	// recovered panic. Default: discard.
	Logger *slog.Logger
	// Registerer receives the admission metrics. Several Serve calls may
	// share one Registerer: the collectors are registered once.
	Registerer prometheus.Registerer
	// MaxBodyBytes overrides DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// API version and kind of the only AdmissionReview accepted and answered.
const (
	reviewAPIVersion = "admission.k8s.io/v1"
	reviewKind       = "AdmissionReview"
)

// Serve wraps h as the HTTP endpoint of the webhook called name: it checks
// the method, content type and size, decodes the AdmissionReview, calls h,
// and answers with the request UID. It never panics: a panicking handler is
// answered 500, logged and counted.
func Serve(name string, h Handler, opts ServeOptions) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := opts.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	m := metricsFor(opts.Registerer, log)
	s := &server{name: name, h: h, log: log.With("webhook", name), limit: limit, m: m,
		ok:        &series[prometheus.Counter]{vec: m.requests.MetricVec, labels: []string{name, "200"}},
		latency:   &series[prometheus.Observer]{vec: m.latency.MetricVec, labels: []string{name}},
		decisions: map[string]*series[prometheus.Counter]{}}
	for _, r := range []string{resultAllowed, resultDenied, resultWarned, resultPatched, resultError} {
		s.decisions[r] = &series[prometheus.Counter]{vec: m.decisions.MetricVec, labels: []string{name, r}}
	}
	return s
}

// series is one labelled series of a metric vector, looked up on first
// use and kept: the lookup hashes the label values on every call. Like
// WithLabelValues, it shows in /metrics only once it has been used.
type series[M any] struct {
	once   sync.Once
	vec    *prometheus.MetricVec
	labels []string
	m      M
}

func (s *series[M]) get() M {
	s.once.Do(func() {
		m, err := s.vec.GetMetricWithLabelValues(s.labels...)
		if err != nil { // the label count is fixed in this file: cannot happen
			panic(err)
		}
		s.m = m.(M)
	})
	return s.m
}

type server struct {
	name  string
	h     Handler
	log   *slog.Logger
	limit int64
	m     *metrics
	// The series of every request, looked up once.
	ok        *series[prometheus.Counter]
	latency   *series[prometheus.Observer]
	decisions map[string]*series[prometheus.Counter] // by result; the map is read-only
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := s.serve(w, r)
	if code == http.StatusOK {
		s.ok.get().Inc()
	} else {
		s.m.requests.WithLabelValues(s.name, strconv.Itoa(code)).Inc()
	}
	s.latency.get().Observe(time.Since(start).Seconds())
}

// serve answers r and returns the HTTP status written.
func (s *server) serve(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return s.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; an AdmissionReview is sent with POST", r.Method))
	}
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		return s.fail(w, http.StatusUnsupportedMediaType, msg)
	}
	buf := getBuffer()
	defer putBuffer(buf) // nothing keeps the body, or a slice of it, past serve
	body, code, msg := readBody(w, r, s.limit, buf)
	if code != 0 {
		return s.fail(w, code, msg)
	}
	review, err := decodeReview(body)
	if err != nil {
		return s.fail(w, http.StatusBadRequest, err.Error())
	}
	req := review.Request

	st := &state{log: s.log}
	resp, panicked := call(context.WithValue(r.Context(), stateKey{}, st), s.h, req)
	if panicked != nil {
		s.decisions[resultError].get().Inc()
		s.log.Error("admission handler panicked", append(requestAttrs(req), "panic", fmt.Sprint(panicked.value), "stack", string(panicked.stack))...)
		return s.fail(w, http.StatusInternalServerError, fmt.Sprintf("webhook %s failed on request %s: internal error", s.name, req.UID))
	}
	if resp == nil {
		s.decisions[resultError].get().Inc()
		s.log.Error("admission handler returned no response", requestAttrs(req)...)
		return s.fail(w, http.StatusInternalServerError, fmt.Sprintf("webhook %s failed on request %s: no response", s.name, req.UID))
	}
	resp.UID = req.UID

	result := classify(resp, st.err)
	s.decisions[result].get().Inc()
	if st.err != nil {
		s.log.Error("admission handler error", append(requestAttrs(req), "error", st.err.Error())...)
	}
	if !resp.Allowed {
		s.log.Info("admission denied", append(requestAttrs(req), "reason", reason(resp))...)
	} else if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("admission allowed", append(requestAttrs(req), "result", result)...)
	}

	out, err := encodeReview(review.TypeMeta, resp)
	if err != nil { // a response holds only strings, bytes and a Status: cannot happen
		s.log.Error("cannot encode AdmissionReview response", "error", err.Error())
		return s.fail(w, http.StatusInternalServerError, "cannot encode response: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return http.StatusOK
}

// fail answers a request that produced no AdmissionResponse. The API server
// treats any non-200 answer as a call failure and applies failurePolicy.
func (s *server) fail(w http.ResponseWriter, code int, msg string) int {
	if code != http.StatusInternalServerError { // 500s are logged with more context by the caller
		s.log.Warn("bad admission request", "code", code, "error", msg)
	}
	http.Error(w, msg, code)
	return code
}

// recovered is a handler panic: its value and the stack where it happened.
type recovered struct {
	value any
	stack []byte
}

// call runs h, turning a panic into a value.
func call(ctx context.Context, h Handler, req *admissionv1.AdmissionRequest) (resp *admissionv1.AdmissionResponse, panicked *recovered) {
	defer func() {
		if v := recover(); v != nil {
			resp, panicked = nil, &recovered{value: v, stack: debug.Stack()}
		}
	}()
	return h.Handle(ctx, req), nil
}

func checkContentType(ct string) string {
	if ct == "" {
		return "missing Content-Type; an AdmissionReview must be sent as application/json"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("malformed Content-Type %q: %v", ct, err)
	}
	if mt != "application/json" {
		return fmt.Sprintf("unsupported Content-Type %q; an AdmissionReview must be sent as application/json", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("unsupported charset %q; JSON must be UTF-8", cs)
	}
	return ""
}

// Request bodies are read into pooled buffers: most reviews are a few KiB,
// and allocating one per request is most of what a request costs the GC.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled bounds the buffers kept: a 6 MiB UPDATE must not stay resident.
const maxPooled = 256 << 10

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// readBody reads at most limit bytes into buf; code is non-zero on
// failure. The body is buf's contents.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf *bytes.Buffer) (body []byte, code int, msg string) {
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("AdmissionReview larger than %d bytes", limit)
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // one allocation for the common case
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("AdmissionReview larger than %d bytes", limit)
		}
		return nil, http.StatusBadRequest, "cannot read body: " + err.Error()
	}
	if buf.Len() == 0 {
		return nil, http.StatusBadRequest, "empty body; expected an admission.k8s.io/v1 AdmissionReview"
	}
	return buf.Bytes(), 0, ""
}

// validOperations are the operations an AdmissionRequest may carry.
var validOperations = map[admissionv1.Operation]bool{
	admissionv1.Create: true, admissionv1.Update: true, admissionv1.Delete: true, admissionv1.Connect: true,
}

// decodeReview decodes body as an admission.k8s.io/v1 AdmissionReview with a
// request complete enough to decide on.
func decodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	review, ok := fastReview(body)
	if !ok {
		review = &admissionv1.AdmissionReview{}
		if err := json.Unmarshal(body, review); err != nil {
			return nil, jsonError("AdmissionReview", err)
		}
	}
	if review.APIVersion != reviewAPIVersion || review.Kind != reviewKind {
		return nil, fmt.Errorf("expected apiVersion %s, kind %s; got apiVersion %q, kind %q", reviewAPIVersion, reviewKind, review.APIVersion, review.Kind)
	}
	req := review.Request
	switch {
	case req == nil:
		return nil, errors.New("AdmissionReview has no request")
	case review.Response != nil:
		return nil, errors.New("AdmissionReview carries a response; a review sent to a webhook must carry only a request")
	case req.UID == "":
		return nil, errors.New("request.uid is empty")
	case req.Kind.Kind == "" || req.Kind.Version == "":
		return nil, fmt.Errorf("request.kind is incomplete (group %q, version %q, kind %q)", req.Kind.Group, req.Kind.Version, req.Kind.Kind)
	case !validOperations[req.Operation]:
		return nil, fmt.Errorf("request.operation %q is not one of CREATE, UPDATE, DELETE, CONNECT", req.Operation)
	}
	return review, nil
}

// jsonError makes a JSON decoding error precise: where, and which field.
func jsonError(what string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed %s: %v at byte %d", what, syn, syn.Offset) // Offset counts the bad byte
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(root)"
		}
		return fmt.Errorf("malformed %s: field %s: cannot use JSON %s as %s at byte %d", what, field, typ.Value, typ.Type, typ.Offset)
	default:
		return fmt.Errorf("malformed %s: %v", what, err)
	}
}

// requestAttrs are the log attributes that identify a request.
func requestAttrs(req *admissionv1.AdmissionRequest) []any {
	return []any{
		"uid", string(req.UID),
		"operation", string(req.Operation),
		"kind", qualifiedKind(req.Kind.Group, req.Kind.Kind),
		"object", objectRef(objectNamespace(req), req.Name),
		"user", req.UserInfo.Username,
	}
}

func objectRef(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// reason is the human reason of a denial.
func reason(resp *admissionv1.AdmissionResponse) string {
	if resp.Result == nil {
		return "denied without a reason"
	}
	return resp.Result.Message
}

// state is what a handler may report back to Serve beyond its response.
type state struct {
	log *slog.Logger
	err error
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// logger is the request's logger (discarding outside Serve).
func logger(ctx context.Context) *slog.Logger {
	if st := stateFrom(ctx); st != nil {
		return st.log
	}
	return slog.New(slog.DiscardHandler)
}

// noteError records an internal error behind a response so Serve logs it and
// counts the decision as an error, whatever the response says.
func noteError(ctx context.Context, err error) {
	if st := stateFrom(ctx); st != nil {
		st.err = err
	}
}
