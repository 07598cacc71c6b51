package admission

import (
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/fastjson"
)

// The fast paths below read what the API server sends in one pass, without
// reflection, and keep the objects as slices of the body instead of
// copies. They give up (ok false) on anything unusual: invalid JSON, a
// field of another type, a key repeated or matching a field only
// case-insensitively, a response. The callers then take encoding/json's
// path, which decides those cases and words the errors. A fuzz test holds
// every fast result equal to encoding/json's.

// fastReview decodes an AdmissionReview as json.Unmarshal would.
func fastReview(body []byte) (review *admissionv1.AdmissionReview, ok bool) {
	d := fastjson.NewDecoder(body)
	review = &admissionv1.AdmissionReview{}
	if !d.Object() {
		return nil, false
	}
	reviewReader.Members(d, review)
	if !d.End() {
		return nil, false
	}
	return review, true
}

// The tables. Each struct's members are listed in its field order.
var (
	reviewReader = fastjson.Fields[admissionv1.AdmissionReview]{
		{Name: "kind", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) { fastjson.ReadString(d, &r.Kind) }},
		{Name: "apiVersion", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) { fastjson.ReadString(d, &r.APIVersion) }},
		{Name: "request", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) {
			if d.Null() {
				r.Request = nil
				return
			}
			r.Request = &admissionv1.AdmissionRequest{}
			requestReader.Read(d, r.Request)
		}},
		{Name: "response", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) {
			if !d.Null() {
				d.Fail() // a review sent to a webhook has none: leave it to the slow path
			}
		}},
	}
	requestReader = fastjson.Fields[admissionv1.AdmissionRequest]{
		{Name: "uid", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { fastjson.ReadString(d, &r.UID) }},
		{Name: "kind", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { gvkReader.Read(d, &r.Kind) }},
		{Name: "resource", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { gvrReader.Read(d, &r.Resource) }},
		{Name: "subResource", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { fastjson.ReadString(d, &r.SubResource) }},
		{Name: "requestKind", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) {
			if d.Null() {
				r.RequestKind = nil
				return
			}
			r.RequestKind = &metav1.GroupVersionKind{}
			gvkReader.Read(d, r.RequestKind)
		}},
		{Name: "requestResource", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) {
			if d.Null() {
				r.RequestResource = nil
				return
			}
			r.RequestResource = &metav1.GroupVersionResource{}
			gvrReader.Read(d, r.RequestResource)
		}},
		{Name: "requestSubResource", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) {
			fastjson.ReadString(d, &r.RequestSubResource)
		}},
		{Name: "name", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { fastjson.ReadString(d, &r.Name) }},
		{Name: "namespace", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { fastjson.ReadString(d, &r.Namespace) }},
		{Name: "operation", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { fastjson.ReadString(d, &r.Operation) }},
		{Name: "userInfo", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { userInfoReader.Read(d, &r.UserInfo) }},
		{Name: "object", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readRaw(d, &r.Object.Raw) }},
		{Name: "oldObject", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readRaw(d, &r.OldObject.Raw) }},
		{Name: "dryRun", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) {
			if d.Null() {
				r.DryRun = nil
				return
			}
			b := d.Bool()
			r.DryRun = &b
		}},
		{Name: "options", Read: func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readRaw(d, &r.Options.Raw) }},
	}
	gvkReader = fastjson.Fields[metav1.GroupVersionKind]{
		{Name: "group", Read: func(d *fastjson.Decoder, g *metav1.GroupVersionKind) { fastjson.ReadString(d, &g.Group) }},
		{Name: "version", Read: func(d *fastjson.Decoder, g *metav1.GroupVersionKind) { fastjson.ReadString(d, &g.Version) }},
		{Name: "kind", Read: func(d *fastjson.Decoder, g *metav1.GroupVersionKind) { fastjson.ReadString(d, &g.Kind) }},
	}
	gvrReader = fastjson.Fields[metav1.GroupVersionResource]{
		{Name: "group", Read: func(d *fastjson.Decoder, g *metav1.GroupVersionResource) { fastjson.ReadString(d, &g.Group) }},
		{Name: "version", Read: func(d *fastjson.Decoder, g *metav1.GroupVersionResource) { fastjson.ReadString(d, &g.Version) }},
		{Name: "resource", Read: func(d *fastjson.Decoder, g *metav1.GroupVersionResource) { fastjson.ReadString(d, &g.Resource) }},
	}
	userInfoReader = fastjson.Fields[authenticationv1.UserInfo]{
		{Name: "username", Read: func(d *fastjson.Decoder, u *authenticationv1.UserInfo) { fastjson.ReadString(d, &u.Username) }},
		{Name: "uid", Read: func(d *fastjson.Decoder, u *authenticationv1.UserInfo) { fastjson.ReadString(d, &u.UID) }},
		{Name: "groups", Read: func(d *fastjson.Decoder, u *authenticationv1.UserInfo) { u.Groups = readStrings(d) }},
		{Name: "extra", Read: func(d *fastjson.Decoder, u *authenticationv1.UserInfo) {
			if d.Null() {
				u.Extra = nil
				return
			}
			if !d.Object() {
				return
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			var started bool
			for {
				k, more := d.Member(&started)
				if !more {
					return
				}
				key := string(k)
				if _, dup := u.Extra[key]; dup {
					d.Fail()
					return
				}
				u.Extra[key] = readStrings(d)
			}
		}},
	}
	metaReader = fastjson.Fields[meta]{
		{Name: "name", Read: func(d *fastjson.Decoder, m *meta) { fastjson.ReadString(d, &m.Name) }},
		{Name: "generateName", Read: func(d *fastjson.Decoder, m *meta) { fastjson.ReadString(d, &m.GenerateName) }},
		{Name: "labels", Read: func(d *fastjson.Decoder, m *meta) {
			if d.Null() {
				m.Labels = nil
				return
			}
			if !d.Object() {
				return
			}
			m.Labels = map[string]string{}
			var started bool
			for {
				k, more := d.Member(&started)
				if !more {
					return
				}
				if d.Peek() != '"' { // null leaves the value unset: rare enough for the slow path
					d.Fail()
					return
				}
				m.Labels[string(k)] = d.String()
			}
		}},
		{Name: "deletionTimestamp", Read: func(d *fastjson.Decoder, m *meta) { fastjson.ReadString(d, &m.DeletionTimestamp) }},
	}
	// objectReader reads only the metadata of an object.
	objectReader = fastjson.Fields[meta]{
		{Name: "metadata", Read: func(d *fastjson.Decoder, m *meta) { metaReader.Read(d, m) }},
	}
)

// readRaw keeps a value as runtime.RawExtension.UnmarshalJSON does (null
// leaves it unset), as a slice of the body.
func readRaw(d *fastjson.Decoder, dst *[]byte) {
	if d.Null() {
		return
	}
	*dst = d.Skip()
}

// readStrings reads a list of strings; null gives nil, as encoding/json.
func readStrings(d *fastjson.Decoder) []string {
	if d.Null() || !d.Array() {
		return nil
	}
	out := []string{}
	var started bool
	for d.Element(&started) {
		if d.Peek() != '"' { // null elements and other types: the slow path
			d.Fail()
			return nil
		}
		out = append(out, d.String())
	}
	return out
}

// fastMeta reads the metadata the handlers use from a raw object, as
// json.Unmarshal into struct{ Metadata meta } would.
func fastMeta(raw []byte) (m *meta, ok bool) {
	d := fastjson.NewDecoder(raw)
	m = &meta{}
	if !d.Object() {
		return nil, false
	}
	objectReader.Members(d, m)
	if !d.End() {
		return nil, false
	}
	return m, true
}
