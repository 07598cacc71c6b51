package admission

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// benchServe measures one webhook end to end: body read, decode, handler,
// encode.
func benchServe(b *testing.B, name string, h Handler, req *admissionv1.AdmissionRequest) {
	body := reviewBody(b, req)
	s := Serve(name, h, ServeOptions{})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/"+name, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("code %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkServeDeletionProtection(b *testing.B) {
	o := newObj("v1", "ConfigMap", "team", "cm").protect()
	o["data"] = map[string]any{"config": strings.Repeat("x", 4<<10)}
	benchServe(b, NameDeletionProtection, NewDeletionProtection(testPolicy(b)), request(admissionv1.Delete, configMap, nil, o))
}

func BenchmarkServeValidate(b *testing.B) {
	o := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 30, "tier", "gold", "owner", "web", "image", "docker.io/x")
	benchServe(b, NameValidate, NewValidation(testPolicy(b)), request(admissionv1.Update, website, o, o.clone()))
}

func BenchmarkServeMutate(b *testing.B) {
	o := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 3)
	benchServe(b, NameMutate, NewMutation(testPolicy(b)), request(admissionv1.Create, website, o, nil))
}

// A 1 MiB object updated: the body is read once and the old object's
// metadata decoded without building the object.
func BenchmarkServeStrictModeLargeUpdate(b *testing.B) {
	o := newObj("v1", "ConfigMap", "team", "cm").protect()
	o["data"] = map[string]any{"blob": strings.Repeat("x", 1<<20)}
	benchServe(b, NameStrictMode, NewStrictMode(testPolicy(b)), request(admissionv1.Update, configMap, o, o.clone()))
}
