package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

// agreeReview checks fastReview against encoding/json on body: when the
// fast path decodes, it decodes what json.Unmarshal decodes.
func agreeReview(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	got, ok := fastReview(body)
	if !ok {
		return false
	}
	var want admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("%q: fast path decodes, encoding/json fails: %v", body, err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("%q:\nfast      %+v\nreference %+v", body, got.Request, want.Request)
	}
	return true
}

func agreeMeta(t *testing.T, raw []byte) (fast bool) {
	t.Helper()
	got, ok := fastMeta(raw)
	if !ok {
		return false
	}
	var want struct {
		Metadata meta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%q: fast path decodes, encoding/json fails: %v", raw, err)
	}
	if !reflect.DeepEqual(*got, want.Metadata) {
		t.Fatalf("%q: fast %+v, reference %+v", raw, *got, want.Metadata)
	}
	return true
}

func TestFastReview(t *testing.T) {
	site := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 3).label("team", "a")
	full := request(admissionv1.Update, website, site, site.clone().protect())
	dry := true
	full.DryRun = &dry
	full.SubResource, full.RequestSubResource = "status", "status"
	full.UserInfo.UID = "u-1"
	full.UserInfo.Extra = map[string]authenticationv1.ExtraValue{"scopes": {"a", "b"}, "none": nil}
	full.Options = runtime.RawExtension{Raw: []byte(`{"kind":"UpdateOptions","apiVersion":"meta.k8s.io/v1"}`)}
	body := reviewBody(t, full)
	if !agreeReview(t, body) {
		t.Fatalf("the fast path gave up on a review as the API server sends it: %s", body)
	}
	if !agreeReview(t, reviewBody(t, request(admissionv1.Delete, configMap, nil, newObj("v1", "ConfigMap", "team", "cm").protect()))) {
		t.Fatal("the fast path gave up on a DELETE review")
	}

	// Valid but unusual forms: decoded the same, or left to encoding/json.
	unusual := []string{
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":null,"request":{"uid":"1"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"1","allowed":true}}`,
		`{"APIVersion":"admission.k8s.io/v1","Kind":"AdmissionReview"}`,
		`{"kind":"A","kind":"B"}`,
		`{"request":{"uid":null,"name":null,"object":null,"oldObject":null,"dryRun":null,"requestKind":null}}`,
		`{"request":{"UID":"1"}}`,
		`{"request":{"uid":1}}`,
		`{"request":{"userInfo":{"groups":null,"extra":null}}}`,
		`{"request":{"userInfo":{"groups":[],"extra":{}}}}`,
		`{"request":{"userInfo":{"groups":["a",null]}}}`,
		`{"request":{"userInfo":{"extra":{"a":["x"],"a":["y"]}}}}`,
		`{"request":{"kind":{"group":"g","Group":"h"}}}`,
		`{"request":{"kind":null,"resource":{"resource":"r","extra":1}}}`,
		`{"request":{"object":  {"a" : 1}  ,"oldObject":[1,2],"options":"x"}}`,
		`{"request":{"operation":"\u0043REATE","name":"caf\u00e9"}}`,
		`{"request":{"dryRun":"yes"}}`,
		`{"unknown":{"deep":[1,2,{"x":null}]},"request":{"unknown":true}}`,
		`{"request":{}} trailing`,
		`[]`,
	}
	fast := 0
	for _, b := range unusual {
		if agreeReview(t, []byte(b)) {
			fast++
		}
	}
	if fast == 0 {
		t.Error("the fast path decoded none of the unusual reviews")
	}
}

func TestFastMeta(t *testing.T) {
	for _, raw := range []string{
		`{"metadata":{"name":"a","generateName":"g-","labels":{"x":"1","orkestra.io/deletion-protection":"true"},"deletionTimestamp":"2026-01-01T00:00:00Z","annotations":{"a":"b"}},"data":{"k":"v"}}`,
		`{"metadata":null}`, `{"metadata":{"labels":null}}`, `{"metadata":{"labels":{"a":null}}}`,
		`{"metadata":{"labels":{"a":1}}}`, `{"Metadata":{"name":"a"}}`, `{"metadata":{"Name":"a"}}`,
		`{"metadata":{"name":"a"},"metadata":{"name":"b"}}`, `{"metadata":{"labels":{"a":"1","a":"2"}}}`,
		`null`, `[]`, `{"metadata":[]}`, `{}`, `{"metadata":{"name":"a"}} x`,
	} {
		agreeMeta(t, []byte(raw))
	}
	if !agreeMeta(t, []byte(`{"metadata":{"name":"a","labels":{"x":"1"}}}`)) {
		t.Error("the fast path gave up on plain metadata")
	}
}

// TestSelectedValidationAgrees: evaluating on the fields the rules read
// decides exactly as evaluating on the whole object, whatever the object.
func TestSelectedValidationAgrees(t *testing.T) {
	p := testPolicy(t)
	h := NewValidation(p).(*validation)
	c := h.crds.byKind[groupKind{"web.example.com", "Website"}]
	if h.sel[c] == nil {
		t.Fatal("no field selection for the website rules")
	}
	objs := []string{
		`{"metadata":{"name":"a"},"spec":{"replicas":3,"tier":"gold","owner":"web","image":"registry.example.com/x"}}`,
		`{"metadata":{"name":"a"},"spec":{"replicas":30,"tier":"gold"}}`,
		`{"metadata":{"name":"a"},"spec":"not a map"}`,
		`{"metadata":{"name":"a"},"spec":{"replicas":"3"}}`,
		`{"metadata":{"name":"a"},"spec":{},"status":{"big":1e400}}`,
		`{"spec":{"replicas":3},"spec":{"replicas":40}}`,
		`null`, `[]`, `{`,
	}
	for _, o := range objs {
		agreeValidation(t, h, []byte(o))
	}
}

func agreeValidation(t *testing.T, h *validation, raw []byte) {
	t.Helper()
	for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Delete} {
		req := request(op, website, newObj("web.example.com/v1", "Website", "web-a", "x"), nil)
		req.Object.Raw = raw
		if op == admissionv1.Delete {
			req.Object.Raw, req.OldObject.Raw = nil, raw
		}
		agreesWithWhole(t, h, req, raw)
	}
}

// agreesWithWhole fails t when h, which decodes only the fields its rules
// read, answers req (whose object is raw) otherwise than the same handler
// decoding every object whole.
func agreesWithWhole(t *testing.T, h *validation, req *admissionv1.AdmissionRequest, raw []byte) {
	t.Helper()
	got := h.Handle(context.Background(), req)
	ref := &validation{p: h.p, crds: h.crds, sel: nil}
	want := ref.Handle(context.Background(), req)
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Fatalf("%s %q:\nselected %s\nwhole    %s", req.Operation, raw, gj, wj)
	}
}

func FuzzFastReview(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		agreeReview(t, body)
	})
}

func FuzzFastMeta(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		agreeMeta(t, raw)
	})
}

func FuzzSelectedValidation(f *testing.F) {
	p := testPolicy(f)
	h := NewValidation(p).(*validation)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if strings.Count(string(raw), "[") > 1000 {
			return // deep nesting is encoding/json's business; it makes the comparison slow
		}
		agreeValidation(t, h, raw)
	})
}

// TestServeConcurrent sends different reviews through one endpoint at
// once: each answer must be its own request's (body buffers are pooled,
// so one request reading another's body would show here, and under -race).
func TestServeConcurrent(t *testing.T) {
	p := testPolicy(t)
	h := Serve(NameValidate, NewValidation(p), ServeOptions{})
	const workers, each = 8, 50
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				replicas := 1 + (w+i)%20 // above 10 is denied
				site := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", replicas, "tier", "gold", "owner", "web", "image", "registry.example.com/x")
				req := request(admissionv1.Create, website, site, nil)
				req.UID = types.UID(fmt.Sprintf("uid-%d-%d", w, i))
				rec := post(h, reviewBody(t, req), "application/json")
				var got admissionv1.AdmissionReview
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Response == nil {
					errs <- fmt.Errorf("%s: %d %s", req.UID, rec.Code, rec.Body)
					return
				}
				if got.Response.UID != req.UID || got.Response.Allowed != (replicas <= 10) {
					errs <- fmt.Errorf("%s with %d replicas answered %s allowed=%v", req.UID, replicas, got.Response.UID, got.Response.Allowed)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestSeriesExistAtZero: every series of the gateway's webhooks is in
// /metrics before the first request, at zero, so that rates and alerts
// work from the start; serving only counts. The series of requests refused
// before their review was read exist from NewMetrics; those of each
// operation a webhook receives once its Serve is built.
func TestSeriesExistAtZero(t *testing.T) {
	reg := metrics.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	// 5 webhooks x 5 refusal codes; 5 histograms; no operation yet.
	if n := metricstest.Count(t, reg, "orkestra_gateway_admission_requests_total"); n != 25 {
		t.Errorf("%d request series before any Serve, want 25", n)
	}
	if n := metricstest.Count(t, reg, "orkestra_gateway_admission_request_duration_seconds"); n != 5 {
		t.Errorf("%d latency series before any Serve, want 5", n)
	}
	if n := metricstest.Count(t, reg, "orkestra_gateway_admission_decisions_total"); n != 0 {
		t.Errorf("%d decision series before any Serve, want 0", n)
	}
	h := Serve(NameValidate, allowAll, ServeOptions{Metrics: m, Operations: []admissionv1.Operation{admissionv1.Create, admissionv1.Update}})
	req := request(admissionv1.Create, website, newObj("web.example.com/v1", "Website", "web-a", "shop"), nil)
	if w := post(h, reviewBody(t, req), "application/json"); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := `
# HELP orkestra_gateway_admission_decisions_total Admission decisions by webhook, operation and result (allowed, denied, warned, patched, error).
# TYPE orkestra_gateway_admission_decisions_total counter
`
	for _, op := range []string{"CREATE", "UPDATE"} {
		for _, r := range []string{"allowed", "denied", "error", "patched", "warned"} {
			n := 0
			if op == "CREATE" && r == "allowed" {
				n = 1
			}
			want += fmt.Sprintf("orkestra_gateway_admission_decisions_total{operation=%q,result=%q,webhook=%q} %d\n", op, r, NameValidate, n)
		}
	}
	if err := testutil.GatherAndCompare(metricstest.Gatherer(reg), strings.NewReader(want), "orkestra_gateway_admission_decisions_total"); err != nil {
		t.Error(err)
	}
	if n := metricstest.Count(t, reg, "orkestra_gateway_admission_requests_total"); n != 25+2*2 {
		t.Errorf("%d request series with validate built for CREATE and UPDATE, want 29", n)
	}
	if got := m.envelope.Requests(NameValidate, "CREATE", 200).Value(); got != 1 {
		t.Errorf("requests{validate,CREATE,200} = %v, want 1", got)
	}
	// Another webhook name gets its series when its Serve is built.
	Serve("other", allowAll, ServeOptions{Metrics: m, Operations: []admissionv1.Operation{admissionv1.Delete}})
	if n := metricstest.Count(t, reg, "orkestra_gateway_admission_decisions_total"); n != 15 {
		t.Errorf("%d decision series with a sixth webhook, want 15", n)
	}
}

// The webhooks of a policy, served as the server serves them, create the
// series of exactly the operations their registrations send them.
func TestSeriesOfTheOperationsEachWebhookReceives(t *testing.T) {
	reg := metrics.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	p := testPolicy(t)
	want := 0
	for _, w := range Webhooks(p, WithMetrics(m)) {
		Serve(w.Name, w.Handler, ServeOptions{Metrics: m, Operations: w.Operations})
		want += len(w.Operations) * len(results)
		for _, op := range w.Operations {
			if got := m.decisions.WithLabelValues(w.Name, string(op), "allowed").Value(); got != 0 {
				t.Errorf("%s %s allowed = %v before any request", w.Name, op, got)
			}
		}
	}
	if n := metricstest.Count(t, reg, "orkestra_gateway_admission_decisions_total"); n != want || want == 0 {
		t.Errorf("%d decision series, want %d", n, want)
	}
}

// jsonNames are the member names json.Unmarshal fills in a struct of type
// t: each exported field's json tag name (or its Go name), inline embedded
// structs flattened, "-" skipped.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// The fast path's tables list exactly the members of the types it fills,
// in their order: a k8s.io/api upgrade that adds a field to
// AdmissionRequest or UserInfo fails here instead of being silently
// dropped by the fast path (an unknown key is skipped).
func TestReadersCoverTheirTypes(t *testing.T) {
	for _, c := range []struct {
		name  string
		table []string
		typ   reflect.Type
	}{
		{"AdmissionReview", reviewReader.Names(), reflect.TypeFor[admissionv1.AdmissionReview]()},
		{"AdmissionRequest", requestReader.Names(), reflect.TypeFor[admissionv1.AdmissionRequest]()},
		{"GroupVersionKind", gvkReader.Names(), reflect.TypeFor[metav1.GroupVersionKind]()},
		{"GroupVersionResource", gvrReader.Names(), reflect.TypeFor[metav1.GroupVersionResource]()},
		{"UserInfo", userInfoReader.Names(), reflect.TypeFor[authenticationv1.UserInfo]()},
		{"meta", metaReader.Names(), reflect.TypeFor[meta]()},
	} {
		if want := jsonNames(c.typ); !slices.Equal(c.table, want) {
			t.Errorf("the %s reader reads %q; the type's members are %q", c.name, c.table, want)
		}
		if len(c.table) > 32 {
			t.Errorf("the %s reader has %d members; members records at most 32", c.name, len(c.table))
		}
	}
}
