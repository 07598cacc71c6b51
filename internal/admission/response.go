package admission

import (
	"encoding/json"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/fastjson"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func allow(warnings ...string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}
}

// forbid denies with 403 Forbidden, as the API server's own authorization
// denials do, naming the object in Details.
func forbid(req *admissionv1.AdmissionRequest, name, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: msg,
			Details: &metav1.StatusDetails{Name: name, Group: req.Kind.Group, Kind: req.Kind.Kind},
		},
	}
}

// badRequest denies a request the handler cannot read (the API server never
// sends one; a hand-made review might).
func badRequest(msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusBadRequest,
			Reason:  metav1.StatusReasonBadRequest,
			Message: msg,
		},
	}
}

// meta is the part of an object's metadata the handlers read; decoding into
// it skips the rest of the object without allocating it.
type meta struct {
	Name              string            `json:"name"`
	GenerateName      string            `json:"generateName"`
	Labels            map[string]string `json:"labels"`
	DeletionTimestamp string            `json:"deletionTimestamp"` // only its presence matters
}

// decodeMeta decodes the metadata of a raw object; nil raw gives nil.
func decodeMeta(raw []byte, what string) (*meta, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if m, ok := fastMeta(raw); ok {
		return m, nil
	}
	var obj struct {
		Metadata meta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fastjson.UnmarshalError(what, err)
	}
	return &obj.Metadata, nil
}

// protected reports whether m carries the protection label with value "true".
func (m *meta) protected() bool {
	return m != nil && m.Labels[policy.ProtectionLabel] == "true"
}

// label is the value of label key, if present.
func (m *meta) label(key string) (string, bool) {
	if m == nil {
		return "", false
	}
	v, ok := m.Labels[key]
	return v, ok
}

// requestName is the object's name, from the request, else its metadata.
func requestName(req *admissionv1.AdmissionRequest, m *meta) string {
	switch {
	case req.Name != "":
		return req.Name
	case m == nil:
		return ""
	case m.Name != "":
		return m.Name
	case m.GenerateName != "":
		return m.GenerateName + "*" // the name is generated after admission
	}
	return ""
}

// describe names an object for messages: "Website web/my-site", "Namespace kube-system".
func describe(req *admissionv1.AdmissionRequest, name string) string {
	return req.Kind.Kind + " " + objectRef(objectNamespace(req), name)
}

// objectNamespace is the namespace the object lives in: "" for a Namespace,
// whose own requests carry its name as namespace.
func objectNamespace(req *admissionv1.AdmissionRequest) string {
	if isNamespace(req) {
		return ""
	}
	return req.Namespace
}

func isNamespace(req *admissionv1.AdmissionRequest) bool {
	return req.Kind.Group == "" && req.Kind.Kind == "Namespace"
}

// qualifiedKind is Kind.group as the API server writes it ("Website.web.example.com"; "Pod" for core).
func qualifiedKind(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// kubectlResource is the resource argument for kubectl ("websites.web.example.com", "configmaps").
func kubectlResource(req *admissionv1.AdmissionRequest) string {
	res, group := req.Resource.Resource, req.Resource.Group
	if res == "" { // a hand-made request: kubectl also accepts the kind
		res, group = strings.ToLower(req.Kind.Kind), req.Kind.Group
	}
	if group == "" {
		return res
	}
	return res + "." + group
}

// kubectlNamespace is the -n flag for kubectl, empty for cluster-scoped objects.
func kubectlNamespace(req *admissionv1.AdmissionRequest) string {
	if ns := objectNamespace(req); ns != "" {
		return " -n " + ns
	}
	return ""
}

// quoteList renders globs for a message: [kube-*, *-system].
func quoteList(g policy.Globs) string {
	return "[" + strings.Join(g, ", ") + "]"
}

// firstMatch is the first glob of g matching name, "" when none does.
func firstMatch(g policy.Globs, name string) string {
	for _, p := range g {
		if (policy.Globs{p}).Match(name) {
			return p
		}
	}
	return ""
}
