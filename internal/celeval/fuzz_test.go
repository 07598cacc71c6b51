package celeval

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// FuzzCheck runs any text through the type-checker, as ork validate does,
// and evaluates what it accepts, as ork gateway eval does: neither may
// panic, an accepted expression never fails to compile at evaluation, and
// the evaluation stays within the cost limit.
func FuzzCheck(f *testing.F) {
	var c Checker
	crds := []any{pods(), website()}
	for _, seed := range []string{
		"object.spec.replicas <= object.spec.maxReplicas",
		"object.spec.containers.all(c, c.image.startsWith('r/'))",
		"'replicas: ' + string(object.spec.replicas)",
		"request.userInfo.username == 'alice' && oldObject.spec.replicas < object.spec.replicas",
		"quantity('1Gi').compareTo(quantity('512Mi')) > 0",
		"[1,2,3].all(x, [1,2,3].all(y, [1,2,3].all(z, x+y+z > 0)))",
		"object.spec.",
		"namespaceObject == null",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	req := &admissionv1.AdmissionRequest{
		UID: "1", Operation: admissionv1.Update, Name: "w", Namespace: "web",
		UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"dev"}},
		Object:    runtime.RawExtension{Raw: []byte(`{"apiVersion":"web.example.com/v1","kind":"Website","metadata":{"name":"w","labels":{"a":"b"}},"spec":{"replicas":3,"maxReplicas":5,"image":"r/a","containers":[{"image":"r/a"}]}}`)},
		OldObject: runtime.RawExtension{Raw: []byte(`{"apiVersion":"web.example.com/v1","kind":"Website","metadata":{"name":"w"},"spec":{"replicas":1}}`)},
	}
	f.Fuzz(func(t *testing.T, src string, message bool) {
		for _, crd := range crds {
			err := c.Check(crdOf(crd), src, message)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				continue
			}
			e := rules.Expression{Expression: src, Message: "m"}
			if message {
				e = rules.Expression{Expression: "false", MessageExpression: src, Message: "fallback"}
			}
			res, err := Evaluate([]rules.Expression{e}, Input{Request: req})
			if err != nil {
				t.Fatalf("Evaluate(%q): %v", src, err)
			}
			if r := res[0]; r.Err != nil && isCompileError(r.Err) {
				t.Fatalf("%q passed Check but does not compile at evaluation: %v", src, r.Err)
			}
			if message && res[0].Message == "" {
				t.Fatalf("%q: empty denial message", src)
			}
		}
	})
}

func crdOf(v any) *policy.CRD { return v.(*policy.CRD) }

// isCompileError tells a compile or type error from a runtime one.
func isCompileError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Syntax error") || strings.Contains(s, "must evaluate to") || strings.Contains(s, "undeclared reference")
}
