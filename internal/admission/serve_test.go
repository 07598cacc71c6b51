package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

// reviewBody wraps req in an AdmissionReview as the API server sends it.
func reviewBody(t testing.TB, req *admissionv1.AdmissionRequest) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(h http.Handler, body []byte, contentType string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var allowAll = handlerFunc(func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return allow()
})

func TestServeAnswersWithTheRequestUID(t *testing.T) {
	h := Serve(NameDeletionProtection, NewDeletionProtection(testPolicy(t)), ServeOptions{})
	req := request(admissionv1.Delete, configMap, nil, newObj("v1", "ConfigMap", "team", "cm").protect())
	req.UID = "705ab4f5-6393-11e8-b7cc-42010a800002"
	w := post(h, reviewBody(t, req), "application/json")
	if w.Code != http.StatusOK {
		t.Fatalf("code %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.APIVersion != "admission.k8s.io/v1" || got.Kind != "AdmissionReview" {
		t.Errorf("answered %s %s", got.APIVersion, got.Kind)
	}
	if got.Request != nil || got.Response == nil || got.Response.UID != req.UID {
		t.Fatalf("want a response for UID %s only, got %s", req.UID, w.Body)
	}
	if got.Response.Allowed || got.Response.Result.Code != 403 {
		t.Errorf("want the handler's denial, got %s", w.Body)
	}
}

func TestServeRefusesBadRequests(t *testing.T) {
	valid := reviewBody(t, request(admissionv1.Create, configMap, newObj("v1", "ConfigMap", "a", "b"), nil))
	withRequest := func(edit func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(valid, &m)
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	req := func(m map[string]any) map[string]any { return m["request"].(map[string]any) }

	cases := []struct {
		name   string
		method string
		ct     string
		body   []byte
		code   int
		msg    string
	}{
		{"GET", http.MethodGet, "application/json", valid, 405, "method GET not allowed"},
		{"PUT", http.MethodPut, "application/json", valid, 405, "method PUT not allowed"},
		{"no content type", "", "", valid, 415, "missing Content-Type"},
		{"yaml", "", "application/yaml", valid, 415, `unsupported Content-Type "application/yaml"`},
		{"malformed content type", "", "application/json; charset", valid, 415, "malformed Content-Type"},
		{"latin1", "", "application/json; charset=latin1", valid, 415, `unsupported charset "latin1"`},
		{"empty body", "", "application/json", nil, 400, "empty body"},
		{"bad JSON", "", "application/json", []byte(`{"apiVersion": "admission.k8s.io/v1",, }`), 400, "malformed AdmissionReview: invalid character ',' looking for beginning of object key string at byte 38"},
		{"truncated JSON", "", "application/json", valid[:len(valid)/2], 400, "malformed AdmissionReview: unexpected end of JSON input"},
		{"trailing data", "", "application/json", append(append([]byte{}, valid...), "{}"...), 400, "malformed AdmissionReview: invalid character '{' after top-level value"},
		{"wrong type", "", "application/json", withRequest(func(m map[string]any) { req(m)["uid"] = 42 }), 400, "field request.uid: cannot use JSON number as types.UID"},
		{"not an object", "", "application/json", []byte(`[1]`), 400, "field (root): cannot use JSON array"},
		{"v1beta1", "", "application/json", withRequest(func(m map[string]any) { m["apiVersion"] = "admission.k8s.io/v1beta1" }), 400, `expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got apiVersion "admission.k8s.io/v1beta1", kind "AdmissionReview"`},
		{"wrong kind", "", "application/json", withRequest(func(m map[string]any) { m["kind"] = "ConversionReview" }), 400, `kind "ConversionReview"`},
		{"no header", "", "application/json", []byte(`{"request":{"uid":"1"}}`), 400, `got apiVersion "", kind ""`},
		{"no request", "", "application/json", withRequest(func(m map[string]any) { delete(m, "request") }), 400, "AdmissionReview has no request"},
		{"null request", "", "application/json", withRequest(func(m map[string]any) { m["request"] = nil }), 400, "AdmissionReview has no request"},
		{"response sent", "", "application/json", withRequest(func(m map[string]any) { m["response"] = map[string]any{"uid": "1"} }), 400, "carries a response"},
		{"no uid", "", "application/json", withRequest(func(m map[string]any) { delete(req(m), "uid") }), 400, "request.uid is empty"},
		{"no kind", "", "application/json", withRequest(func(m map[string]any) { delete(req(m), "kind") }), 400, "request.kind is incomplete"},
		{"bad operation", "", "application/json", withRequest(func(m map[string]any) { req(m)["operation"] = "PATCH" }), 400, `request.operation "PATCH" is not one of CREATE, UPDATE, DELETE, CONNECT`},
		{"no operation", "", "application/json", withRequest(func(m map[string]any) { delete(req(m), "operation") }), 400, `request.operation ""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			h := Serve("test", handlerFunc(func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
				called = true
				return allow()
			}), ServeOptions{})
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/x", bytes.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Errorf("code %d, want %d (%s)", w.Code, tc.code, w.Body)
			}
			if !strings.Contains(w.Body.String(), tc.msg) {
				t.Errorf("body %q lacks %q", w.Body, tc.msg)
			}
			if called {
				t.Error("the handler was called")
			}
			if tc.code == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow %q, want POST", w.Header().Get("Allow"))
			}
		})
	}
}

func TestServeAcceptsCharset(t *testing.T) {
	body := reviewBody(t, request(admissionv1.Create, configMap, newObj("v1", "ConfigMap", "a", "b"), nil))
	for _, ct := range []string{"application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"} {
		if w := post(Serve("t", allowAll, ServeOptions{}), body, ct); w.Code != 200 {
			t.Errorf("%q: code %d %s", ct, w.Code, w.Body)
		}
	}
}

func TestServeBodyLimit(t *testing.T) {
	body := reviewBody(t, request(admissionv1.Create, configMap, newObj("v1", "ConfigMap", "a", "b"), nil))
	h := Serve("t", allowAll, ServeOptions{MaxBodyBytes: int64(len(body))})
	if w := post(h, body, "application/json"); w.Code != 200 {
		t.Fatalf("a body at the limit: code %d %s", w.Code, w.Body)
	}
	big := append(bytes.Clone(body), ' ')
	if w := post(h, big, "application/json"); w.Code != 413 || !strings.Contains(w.Body.String(), "larger than") {
		t.Errorf("declared length over the limit: code %d %s", w.Code, w.Body)
	}
	// Without a Content-Length (chunked), the reader enforces the limit.
	r := httptest.NewRequest(http.MethodPost, "/x", io.MultiReader(bytes.NewReader(big)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 413 {
		t.Errorf("chunked body over the limit: code %d %s", w.Code, w.Body)
	}
}

func TestServeDefaultLimitFitsTwoLargeObjects(t *testing.T) {
	// An UPDATE of an object at the API server's 3 MiB request limit.
	large := newObj("v1", "ConfigMap", "a", "b")
	large["data"] = map[string]any{"blob": strings.Repeat("x", 3<<20-200)}
	req := request(admissionv1.Update, configMap, large, large)
	body := reviewBody(t, req)
	if w := post(Serve("t", allowAll, ServeOptions{}), body, "application/json"); w.Code != 200 {
		t.Fatalf("%d-byte review: code %d %s", len(body), w.Code, w.Body)
	}
}

func TestServeRecoversPanics(t *testing.T) {
	var logs bytes.Buffer
	m := NewMetrics()
	h := Serve("boom", handlerFunc(func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		panic("handler bug")
	}), ServeOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: m})
	body := reviewBody(t, request(admissionv1.Create, configMap, newObj("v1", "ConfigMap", "a", "b"), nil))
	w := post(h, body, "application/json")
	if w.Code != 500 || !strings.Contains(w.Body.String(), "webhook boom failed on request uid-1: internal error") {
		t.Errorf("code %d %q", w.Code, w.Body)
	}
	// The stack is the panic's, naming the handler, not the recovery's.
	if !strings.Contains(logs.String(), `"panic":"handler bug"`) || !strings.Contains(logs.String(), "TestServeRecoversPanics.func1") {
		t.Errorf("panic not logged with its stack: %s", logs.String())
	}
	if got := m.decisions.WithLabelValues("boom", "CREATE", "error").Value(); got != 1 {
		t.Errorf("error decisions = %v, want 1", got)
	}
	if got := m.envelope.Requests("boom", "CREATE", 500).Value(); got != 1 {
		t.Errorf("500 requests = %v, want 1", got)
	}

	nilResp := Serve("nil", handlerFunc(func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse { return nil }), ServeOptions{})
	if w := post(nilResp, body, "application/json"); w.Code != 500 || !strings.Contains(w.Body.String(), "no response") {
		t.Errorf("nil response: code %d %q", w.Code, w.Body)
	}
}

func TestServeMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	p := testPolicy(t)
	m := NewMetrics()
	reg.MustRegister(m)
	opts := ServeOptions{Metrics: m}
	// Several webhooks share one registry, as in the server.
	del := Serve(NameDeletionProtection, NewDeletionProtection(p), opts)
	mut := Serve(NameMutate, NewMutation(p), opts)
	val := Serve(NameValidate, NewValidation(p), opts)

	cm := newObj("v1", "ConfigMap", "team", "cm")
	post(del, reviewBody(t, request(admissionv1.Delete, configMap, nil, cm.clone().protect())), "application/json")
	post(del, reviewBody(t, request(admissionv1.Delete, configMap, nil, cm.clone())), "application/json")
	post(del, reviewBody(t, request(admissionv1.Delete, configMap, nil, cm.clone())), "text/plain")
	site := newObj("web.example.com/v1", "Website", "web-a", "shop")
	post(mut, reviewBody(t, request(admissionv1.Create, website, site.clone().spec("replicas", 1), nil)), "application/json")
	post(val, reviewBody(t, request(admissionv1.Create, website, site.clone().spec("tier", "x", "image", "docker.io/x"), nil)), "application/json")

	for _, c := range []struct {
		name string
		c    *metrics.Counter
		want float64
	}{
		{"decisions deletion-protection DELETE denied", m.decisions.WithLabelValues(NameDeletionProtection, "DELETE", "denied"), 1},
		{"decisions deletion-protection DELETE allowed", m.decisions.WithLabelValues(NameDeletionProtection, "DELETE", "allowed"), 1},
		{"decisions mutate CREATE patched", m.decisions.WithLabelValues(NameMutate, "CREATE", "patched"), 1},
		{"decisions validate CREATE warned", m.decisions.WithLabelValues(NameValidate, "CREATE", "warned"), 1},
		{"requests deletion-protection DELETE 200", m.envelope.Requests(NameDeletionProtection, "DELETE", 200), 2},
		{"requests deletion-protection 415", m.envelope.Requests(NameDeletionProtection, "", 415), 1},
	} {
		if got := c.c.Value(); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if n := metricstest.Count(t, reg, "orkestra_gateway_admission_request_duration_seconds"); n != 5 {
		t.Errorf("latency series = %d, want one per webhook of the gateway (5)", n)
	}
}

func TestServeLogsDenialsOnly(t *testing.T) {
	var logs bytes.Buffer
	h := Serve(NameStrictMode, NewStrictMode(testPolicy(t)), ServeOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	old := newObj("web.example.com/v1", "Website", "web-a", "shop").protect()
	post(h, reviewBody(t, request(admissionv1.Update, website, old.clone(), old.clone())), "application/json")
	if logs.Len() != 0 {
		t.Fatalf("an allowed request logged at info: %s", logs.String())
	}
	post(h, reviewBody(t, request(admissionv1.Update, website, newObj("web.example.com/v1", "Website", "web-a", "shop"), old.clone())), "application/json")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line per denial, got %d: %s", len(lines), logs.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"msg": "admission denied", "webhook": NameStrictMode, "operation": "UPDATE",
		"kind": "Website.web.example.com", "object": "web-a/shop", "user": "bob",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log %s = %v, want %v", k, rec[k], v)
		}
	}
	if r, _ := rec["reason"].(string); !strings.Contains(r, "not allowed in strict mode") {
		t.Errorf("log reason %q", r)
	}
}
