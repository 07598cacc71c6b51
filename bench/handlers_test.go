package bench

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// benchPolicy compiles the benchmark Katalog as the gateway does.
func benchPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	path, err := WriteKatalog(t.TempDir(), "https://127.0.0.1:8443")
	if err != nil {
		t.Fatal(err)
	}
	p, err := CompileKatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gatewayHandler is a webhook as the gateway mounts it, logging to
// /dev/null.
func gatewayHandler(t testing.TB, name string, h admission.Handler) http.Handler {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devNull.Close() })
	return GatewayHandler(name, h, devNull)
}

func serveOnce(t testing.TB, h http.Handler, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return w
}

// TestGatewayDecidesTheBenchmarkBodies pins what the load generator relies
// on: the gateway allows the valid Websites, denies the broken one and the
// protected delete, and the floor allows everything.
func TestGatewayDecidesTheBenchmarkBodies(t *testing.T) {
	p := benchPolicy(t)
	validate := gatewayHandler(t, admission.NameValidate, admission.NewValidation(p))
	protect := gatewayHandler(t, admission.NameDeletionProtection, admission.NewDeletionProtection(p))
	bodies, allowed := ValidateBodies(10)
	for i, b := range bodies {
		got := bytes.Contains(serveOnce(t, validate, b).Body.Bytes(), []byte(`"allowed":true`))
		if got != allowed[i] {
			t.Errorf("/validate body %d: allowed=%v, want %v", i, got, allowed[i])
		}
		if out, err := FloorAdmit(b); err != nil || !bytes.Contains(out, []byte(`"allowed":true`)) {
			t.Errorf("floor, body %d: %s %v", i, out, err)
		}
	}
	w := serveOnce(t, protect, DeleteReview())
	if !bytes.Contains(w.Body.Bytes(), []byte(`"code":403`)) {
		t.Errorf("/deletion-protection of a protected ConfigMap: %s", w.Body)
	}
}

// TestEveryViolationIsDenied checks the rule set the end-to-end benchmark
// compares with the ValidatingAdmissionPolicy: each Violation breaks its
// rule, and only its rule.
func TestEveryViolationIsDenied(t *testing.T) {
	p := benchPolicy(t)
	validate := gatewayHandler(t, admission.NameValidate, admission.NewValidation(p))
	for i, v := range Violations {
		out := serveOnce(t, validate, CreateReview(Broken(GroupGateway, i, v), i)).Body.String()
		if !bytes.Contains([]byte(out), []byte(v.Message)) {
			t.Errorf("violation %d: the denial does not say %q: %s", i, v.Message, out)
		}
		for j, other := range Violations {
			if j != i && other.Message != v.Message && bytes.Contains([]byte(out), []byte(other.Message)) {
				t.Errorf("violation %d also breaks rule %d (%q)", i, j, other.Message)
			}
		}
	}
	for i := range 30 {
		out := serveOnce(t, validate, CreateReview(Website(GroupGateway, i), i)).Body.String()
		if !bytes.Contains([]byte(out), []byte(`"allowed":true`)) {
			t.Errorf("valid Website %d denied: %s", i, out)
		}
	}
}

// BenchmarkHandlers compares the gateway's handlers with the floor on the
// bodies of the webhook benchmark, without TLS or the network: the part of
// the difference the gateway's own code makes. Run with -cpuprofile to see
// where it goes.
func BenchmarkHandlers(b *testing.B) {
	p := benchPolicy(b)
	vb, _ := ValidateBodies(10)
	floor := http.HandlerFunc(floorAdmit)
	for _, bc := range []struct {
		name   string
		h      http.Handler
		bodies [][]byte
	}{
		{"validate/floor", floor, vb},
		{"validate/gateway", gatewayHandler(b, admission.NameValidate, admission.NewValidation(p)), vb},
		{"deletion-protection/floor", floor, [][]byte{DeleteReview()}},
		{"deletion-protection/gateway", gatewayHandler(b, admission.NameDeletionProtection, admission.NewDeletionProtection(p)), [][]byte{DeleteReview()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			cpu0 := processCPU()
			for b.Loop() {
				serveOnce(b, bc.h, bc.bodies[i%len(bc.bodies)])
				i++
			}
			// CPU time (GC included) is steadier than wall time on a
			// machine shared with other work.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// The native engine's Katalog has the benchmark's ten Website rules, on
// engine native, for its own copy of the CRD.
func TestNativeKatalog(t *testing.T) {
	path, err := WriteNativeKatalog(t.TempDir(), "https://127.0.0.1:8443")
	if err != nil {
		t.Fatal(err)
	}
	p, err := CompileKatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Admission.Engine != policy.EngineNative || len(p.CRDs) != 1 || p.CRDs[0].Group != GroupNative {
		t.Fatalf("engine %s, CRDs %+v", p.Admission.Engine, p.CRDs)
	}
	base := benchPolicy(t)
	var website *policy.CRD
	for _, c := range base.CRDs {
		if c.Name == "website" {
			website = c
		}
	}
	for i := range 10 {
		if got, want := p.CRDs[0].Validation.MessageAt(i), website.Validation.MessageAt(i); got != want || got == "" {
			t.Errorf("rule %d: %q, want %q", i, got, want)
		}
	}
	if p.CRDs[0].Validation.MessageAt(10) != "" {
		t.Error("more than the ten rules")
	}
}
