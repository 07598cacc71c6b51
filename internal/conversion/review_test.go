package conversion

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
)

func gadget(version, name, spec string) string {
	return `{"apiVersion":"conv.example.com/` + version + `","kind":"Gadget","metadata":{"name":"` + name + `","namespace":"d","uid":"u-` + name + `"},"spec":` + spec + `}`
}

func reviewBody(desired string, objects ...string) string {
	return `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"req-1","desiredAPIVersion":"` +
		desired + `","objects":[` + strings.Join(objects, ",") + `]}}`
}

func post(t *testing.T, h http.Handler, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/convert", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeResponse(t *testing.T, w *httptest.ResponseRecorder) *apiextv1.ConversionResponse {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var review apiextv1.ConversionReview
	if err := json.Unmarshal(w.Body.Bytes(), &review); err != nil {
		t.Fatalf("response is not a ConversionReview: %v\n%s", err, w.Body)
	}
	if review.APIVersion != "apiextensions.k8s.io/v1" || review.Kind != "ConversionReview" || review.Response == nil || review.Request != nil {
		t.Fatalf("bad envelope: %s", w.Body)
	}
	return review.Response
}

func TestServeConvertsEveryObject(t *testing.T) {
	m := NewMetrics()
	metrics.NewRegistry().MustRegister(m)
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{Metrics: m})
	w := post(t, c, "application/json; charset=utf-8", reviewBody("conv.example.com/v2",
		gadget("v1", "a", `{"size":1}`), gadget("v3", "b", `{"replicas":"2","tier":"gold"}`), gadget("v1", "c", `{"size":3}`)))
	resp := decodeResponse(t, w)
	if resp.UID != "req-1" || resp.Result.Status != metav1.StatusSuccess {
		t.Fatalf("response %+v", resp)
	}
	if len(resp.ConvertedObjects) != 3 {
		t.Fatalf("%d objects, want 3", len(resp.ConvertedObjects))
	}
	for i, name := range []string{"a", "b", "c"} {
		o, err := decodeObject(resp.ConvertedObjects[i].Raw)
		if err != nil {
			t.Fatal(err)
		}
		if o["apiVersion"] != "conv.example.com/v2" || o["metadata"].(map[string]any)["name"] != name {
			t.Errorf("object %d: %s", i, resp.ConvertedObjects[i].Raw)
		}
		if r, _ := lookup(o, []string{"spec", "replicas"}); r != int64(i+1) {
			t.Errorf("object %d: replicas %v, want %d", i, r, i+1)
		}
	}
	if got := c.m.objects.WithLabelValues("conv.example.com", "Gadget", "v1", "v2", "success").Value(); got != 2 {
		t.Errorf("objects_total{v1,v2,success} = %v, want 2", got)
	}
	if got := c.m.objects.WithLabelValues("conv.example.com", "Gadget", "v3", "v2", "success").Value(); got != 1 {
		t.Errorf("objects_total{v3,v2,success} = %v, want 1", got)
	}
	// Every pair of declared versions has its series from the start.
	if got := metricstest.Count(t, c.m.latency); got != 9 {
		t.Errorf("latency series = %d, want 9 (3 versions x 3)", got)
	}
	if got := c.m.objects.WithLabelValues("conv.example.com", "Gadget", "v2", "v1", "success").Value(); got != 0 {
		t.Errorf("objects_total{v2,v1,success} = %v, want 0", got)
	}
	if got := c.m.reviews.WithLabelValues("success").Value(); got != 1 {
		t.Errorf("reviews_total{success} = %v", got)
	}
	// A second Converter given the same Metrics counts into them.
	if c2 := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{Metrics: m}); c2.m.objects != c.m.objects {
		t.Error("a second Converter does not count into the Metrics it was given")
	}
}

// One object that cannot be converted fails the whole review, with a
// message naming the object, the versions and the cause.
func TestServeFailsAsAWhole(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	cases := []struct {
		name    string
		body    string
		message []string
	}{
		{"one bad object among good ones", reviewBody("conv.example.com/v2",
			gadget("v1", "a", `{"size":1}`), gadget("v3", "bad", `{"replicas":"lots"}`), gadget("v1", "c", `{"size":3}`)),
			[]string{`Gadget d/bad (object 2 of 3)`, `from conv.example.com/v3 to conv.example.com/v2`, `spec.replicas`, `string "lots"`}},
		{"kind of another group", reviewBody("other.example.com/v2", strings.ReplaceAll(gadget("v1", "a", `{}`), "conv.example.com", "other.example.com")),
			[]string{`no Katalog CRD entry`, `kind Gadget in group other.example.com`}},
		{"unknown kind", reviewBody("conv.example.com/v2", strings.Replace(gadget("v1", "a", `{}`), "Gadget", "Gizmo", 1)),
			[]string{`Gizmo d/a`, `kind Gizmo in group conv.example.com`}},
		{"group change", reviewBody("other.example.com/v2", gadget("v1", "a", `{}`)),
			[]string{`the groups differ`}},
		{"unknown desired version", reviewBody("conv.example.com/v9", gadget("v1", "a", `{}`)),
			[]string{`version v9 is not a version of Gadget.conv.example.com`}},
		{"unknown source version", reviewBody("conv.example.com/v1", gadget("v0", "a", `{}`)),
			[]string{`version v0`}},
		{"no apiVersion", reviewBody("conv.example.com/v1", `{"kind":"Gadget","metadata":{"name":"x"}}`),
			[]string{`x (object 1 of 1): apiVersion`}},
		{"no kind", reviewBody("conv.example.com/v1", `{"apiVersion":"conv.example.com/v2","metadata":{"name":"x"}}`),
			[]string{`kind is missing`}},
		{"spec not an object", reviewBody("conv.example.com/v2", gadget("v1", "a", `"big"`)),
			[]string{`spec is a string`}},
		{"template error", reviewBody("conv.example.com/v1", gadget("v2", "a", `{"container":"flat"}`)),
			[]string{`mapping spec.image`, `container`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := decodeResponse(t, post(t, c, "application/json", tc.body))
			if resp.Result.Status != metav1.StatusFailure {
				t.Fatalf("status %q, want Failure", resp.Result.Status)
			}
			if len(resp.ConvertedObjects) != 0 {
				t.Errorf("a failed review answered %d objects", len(resp.ConvertedObjects))
			}
			if resp.UID != "req-1" {
				t.Errorf("uid %q", resp.UID)
			}
			for _, want := range tc.message {
				if !strings.Contains(resp.Result.Message, want) {
					t.Errorf("message %q does not say %q", resp.Result.Message, want)
				}
			}
		})
	}
	if got := c.m.objects.WithLabelValues("conv.example.com", "Gadget", "v3", "v2", "failure").Value(); got != 1 {
		t.Errorf("objects_total{v3,v2,failure} = %v, want 1", got)
	}
	if got := c.m.objects.WithLabelValues("conv.example.com", "Gadget", "v1", "v2", "success").Value(); got != 0 {
		t.Errorf("objects of a failed review counted as converted: %v", got)
	}
}

// The API server sends an empty response along with the request.
func TestServeIgnoresSentResponse(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	body := strings.Replace(reviewBody("conv.example.com/v2", gadget("v1", "a", `{"size":1}`)), `"request":`,
		`"response":{"uid":"","convertedObjects":null,"result":{"metadata":{}}},"request":`, 1)
	resp := decodeResponse(t, post(t, c, "application/json", body))
	if resp.Result.Status != metav1.StatusSuccess || len(resp.ConvertedObjects) != 1 {
		t.Errorf("%+v", resp)
	}
}

func TestServeEmptyReview(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	for _, body := range []string{
		reviewBody("conv.example.com/v2"),
		`{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"req-1","desiredAPIVersion":"conv.example.com/v2"}}`,
	} {
		resp := decodeResponse(t, post(t, c, "application/json", body))
		if resp.Result.Status != metav1.StatusSuccess || len(resp.ConvertedObjects) != 0 {
			t.Errorf("%s: %+v", body, resp)
		}
	}
}

// Malformed requests get a 4xx with the reason, never a review.
func TestServeMalformed(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{MaxBodyBytes: 4096})
	good := gadget("v1", "a", `{}`)
	cases := []struct {
		name, method, contentType, body string
		code                            int
		reason                          string
	}{
		{"GET", http.MethodGet, "application/json", "", 405, "method GET not allowed"},
		{"no content type", "", "", reviewBody("conv.example.com/v2"), 415, "missing Content-Type"},
		{"YAML", "", "application/yaml", reviewBody("conv.example.com/v2"), 415, `unsupported Content-Type "application/yaml"`},
		{"bad charset", "", "application/json; charset=latin1", reviewBody("conv.example.com/v2"), 415, "charset"},
		{"too large", "", "application/json", reviewBody("conv.example.com/v2", strings.Repeat(good+",", 100)+good), 413, "larger than 4096 bytes"},
		{"empty", "", "application/json", "", 400, "empty body"},
		{"not JSON", "", "application/json", "{not json", 400, "malformed ConversionReview"},
		{"truncated", "", "application/json", `{"apiVersion":"apiextensions.k8s.io/v1"`, 400, "malformed ConversionReview"},
		{"trailing data", "", "application/json", reviewBody("conv.example.com/v2") + "{}", 400, "after top-level value"},
		{"wrong type", "", "application/json", `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":7}}`, 400, "field request.uid"},
		{"v1beta1", "", "application/json", strings.Replace(reviewBody("conv.example.com/v2"), "apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1", 1), 400, `got apiVersion "apiextensions.k8s.io/v1beta1"`},
		{"wrong kind", "", "application/json", strings.Replace(reviewBody("conv.example.com/v2"), `"ConversionReview"`, `"AdmissionReview"`, 1), 400, `kind "AdmissionReview"`},
		{"no request", "", "application/json", `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview"}`, 400, "no request"},
		{"no uid", "", "application/json", `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"desiredAPIVersion":"conv.example.com/v2"}}`, 400, "request.uid is empty"},
		{"no desiredAPIVersion", "", "application/json", `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u"}}`, 400, "desiredAPIVersion is empty"},
		{"desired without group", "", "application/json", reviewBody("v2"), 400, `"v2" is not group/version`},
		{"object not an object", "", "application/json", reviewBody("conv.example.com/v2", `[1]`), 400, "objects[0] is not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/convert", strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			body, _ := io.ReadAll(w.Body)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, body)
			}
			if !strings.Contains(string(body), tc.reason) {
				t.Errorf("body %q does not say %q", body, tc.reason)
			}
		})
	}
	if got := c.m.reviews.WithLabelValues("bad_request").Value(); got != float64(len(cases)) {
		t.Errorf("reviews_total{bad_request} = %v, want %d", got, len(cases))
	}
}

// Review is the entry point of `ork gateway convert`: same answers.
func TestReviewAPI(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	if r := c.Review(nil); r.Result.Status != metav1.StatusFailure {
		t.Errorf("nil request: %+v", r)
	}
	req := &apiextv1.ConversionRequest{UID: "x", DesiredAPIVersion: "conv.example.com/v2"}
	req.Objects = append(req.Objects, rawExt(gadget("v1", "a", `{"size":4}`)))
	r := c.Review(req)
	if r.Result.Status != metav1.StatusSuccess || len(r.ConvertedObjects) != 1 || !strings.Contains(string(r.ConvertedObjects[0].Raw), `"replicas":4`) {
		t.Errorf("%+v", r)
	}
	req.DesiredAPIVersion = "nogroup"
	if r := c.Review(req); r.Result.Status != metav1.StatusFailure || !strings.Contains(r.Result.Message, "desiredAPIVersion") {
		t.Errorf("%+v", r)
	}
}

// One Converter serves concurrent reviews (run with -race).
func TestServeConcurrently(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{Metrics: NewMetrics()})
	body := reviewBody("conv.example.com/v3", gadget("v1", "a", `{"size":1,"legacyMode":"x"}`), gadget("v2", "b", `{"replicas":2}`))
	done := make(chan string)
	for range 8 {
		go func() {
			var errs []string
			for range 20 {
				w := post(t, c, "application/json", body)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"replicas":"2"`) {
					errs = append(errs, w.Body.String())
				}
			}
			done <- strings.Join(errs, "\n")
		}()
	}
	for range 8 {
		if errs := <-done; errs != "" {
			t.Error(errs)
		}
	}
}
