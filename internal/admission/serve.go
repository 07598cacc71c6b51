// Package admission serves the gateway's admission webhooks: Serve (what an
// AdmissionReview adds to the envelope of package webhook), the handlers
// built from the compiled policy, Webhooks (every endpoint and the model of
// which requests the API server sends it), and Review,
// which runs every matching handler the way the API server would so that
// `ork gateway eval` and the server share one code path.
//
// Handlers decide from the request and the policy alone: no API server call,
// no HTTP, no DNS on this path.
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/fastjson"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Handler decides one admission request. It must return a response (never
// nil); Serve fills in the UID.
type Handler interface {
	Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse
}

// handlerFunc adapts a function to Handler.
type handlerFunc func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

// Handle calls f(ctx, req).
func (f handlerFunc) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return f(ctx, req)
}

// defaultMaxBodyBytes bounds an AdmissionReview body: the API server accepts
// objects up to 3 MiB and an UPDATE carries two of them, plus the envelope
// (userInfo, options) and slack for JSON re-encoding.
const defaultMaxBodyBytes = 8 << 20

// ServeOptions are the dependencies of Serve; every field is optional.
type ServeOptions struct {
	// Logger receives one line per denial and per handler error. Default:
	// discard.
	Logger *slog.Logger
	// Metrics receives the admission metrics (NewMetrics, registered once
	// by the caller). Nil: private, unregistered collectors.
	Metrics *Metrics
	// Listener is the webhook listener's shared state: the budget of body
	// bytes in flight and the bad-request log limiter. Nil: a private one
	// without a budget.
	Listener *webhook.Listener
	// MaxBodyBytes overrides defaultMaxBodyBytes.
	MaxBodyBytes int64
	// Operations are the operations the API server sends the webhook
	// (Webhook.Operations): their series are created at zero.
	Operations []admissionv1.Operation
}

// API version and kind of the only AdmissionReview accepted and answered.
const (
	reviewAPIVersion = "admission.k8s.io/v1"
	reviewKind       = "AdmissionReview"
)

// Serve wraps h as the HTTP endpoint of the webhook called name, in the
// envelope every webhook shares (package webhook: method, content type,
// size, budget, panics): it decodes the AdmissionReview, calls h, and
// answers with the request UID.
func Serve(name string, h Handler, opts ServeOptions) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := opts.MaxBodyBytes
	if limit <= 0 {
		limit = defaultMaxBodyBytes
	}
	m := opts.Metrics
	if m == nil {
		m = NewMetrics()
	}
	ops := make([]string, len(opts.Operations))
	for i, op := range opts.Operations {
		ops[i] = string(op)
	}
	a := &answerer{name: name, h: h, log: log.With("webhook", name), decisions: m.decisionsOf(name, ops)}
	return webhook.New(name, webhook.Review[*admissionv1.AdmissionReview]{
		Kind:      reviewKind,
		Decode:    decodeReview,
		Answer:    a.answer,
		UID:       func(r *admissionv1.AdmissionReview) string { return string(r.Request.UID) },
		Attrs:     func(r *admissionv1.AdmissionReview) []any { return requestAttrs(r.Request) },
		Operation: func(r *admissionv1.AdmissionReview) string { return string(r.Request.Operation) },
	}, webhook.Options{
		MaxBodyBytes: limit,
		Listener:     opts.Listener,
		Logger:       log,
		Metrics:      m.envelope,
		Operations:   ops,
		OnFailure: func(code int, op string) {
			if code == http.StatusInternalServerError { // a panic, or no response
				a.decisions.inc(op, resultError)
			}
		},
	})
}

// answerer is what differs for an AdmissionReview: calling the handler,
// counting and logging its decision, encoding the answer.
type answerer struct {
	name      string
	h         Handler
	log       *slog.Logger
	decisions *decisions
}

func (a *answerer) answer(ctx context.Context, review *admissionv1.AdmissionReview) (net.Buffers, error) {
	req := review.Request
	st := &state{log: a.log}
	resp := a.h.Handle(context.WithValue(ctx, stateKey{}, st), req)
	if resp == nil {
		return nil, fmt.Errorf("webhook %s failed on request %s: no response", a.name, req.UID)
	}
	resp.UID = req.UID

	result := classify(resp, st.err)
	a.decisions.inc(string(req.Operation), result)
	if st.err != nil {
		a.log.Error("admission handler error", append(requestAttrs(req), "err", st.err.Error())...)
	}
	if !resp.Allowed {
		a.log.Info("admission denied", append(requestAttrs(req), "reason", reason(resp))...)
	} else if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.Debug("admission allowed", append(requestAttrs(req), "result", result)...)
	}
	out, err := encodeReview(review.TypeMeta, resp)
	if err != nil { // a response holds only strings, bytes and a Status: cannot happen
		return nil, fmt.Errorf("cannot encode the response to request %s: %w", req.UID, err)
	}
	return net.Buffers{out}, nil
}

// recovered is a handler panic: its value and the stack where it happened.
type recovered struct {
	value any
	stack []byte
}

// call runs h, turning a panic into a value (Review; the server's panics
// are the envelope's).
func call(ctx context.Context, h Handler, req *admissionv1.AdmissionRequest) (resp *admissionv1.AdmissionResponse, panicked *recovered) {
	defer func() {
		if v := recover(); v != nil {
			resp, panicked = nil, &recovered{value: v, stack: debug.Stack()}
		}
	}()
	return h.Handle(ctx, req), nil
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
			return nil, fastjson.UnmarshalError("AdmissionReview", err)
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
