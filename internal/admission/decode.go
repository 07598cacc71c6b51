package admission

import (
	"bytes"

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
	reviewReader.members(d, review)
	if !d.End() {
		return nil, false
	}
	return review, true
}

// reader reads a JSON object into a *T from a table of its members, as
// json.Unmarshal would into the struct whose json tags the names are (a
// test holds each table to its struct's tags).
type reader[T any] []member[T]

// member is one key of an object and how to read its value into *T; read
// gets the value whatever it is, null included.
type member[T any] struct {
	name string
	read func(d *fastjson.Decoder, dst *T)
}

// names are the keys of the table.
func (r reader[T]) names() []string {
	out := make([]string, len(r))
	for i, m := range r {
		out[i] = m.name
	}
	return out
}

// read reads an object, or null (which leaves dst unchanged), into dst.
func (r reader[T]) read(d *fastjson.Decoder, dst *T) {
	if d.Null() || !d.Object() {
		return
	}
	r.members(d, dst)
}

// members reads the members of an object whose '{' was consumed. A key
// repeated, or matching a member only case-insensitively, fails the
// decoder: encoding/json merges the one and fills the other.
func (r reader[T]) members(d *fastjson.Decoder, dst *T) {
	var seen uint32
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			return
		}
		i := r.index(k)
		if i < 0 {
			r.unknown(d, k)
			continue
		}
		if seen&(1<<i) != 0 {
			d.Fail()
			return
		}
		seen |= 1 << i
		r[i].read(d, dst)
	}
}

func (r reader[T]) index(k []byte) int {
	for i := range r {
		if string(k) == r[i].name {
			return i
		}
	}
	return -1
}

// unknown skips the value of a key that is no member, unless it matches
// one case-insensitively: encoding/json would fill that member.
func (r reader[T]) unknown(d *fastjson.Decoder, key []byte) {
	for i := range r {
		if bytes.EqualFold(key, []byte(r[i].name)) {
			d.Fail()
			return
		}
	}
	d.Skip()
}

// The tables. Each struct's members are listed in its field order.
var (
	reviewReader = reader[admissionv1.AdmissionReview]{
		{"kind", func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) { readString(d, &r.Kind) }},
		{"apiVersion", func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) { readString(d, &r.APIVersion) }},
		{"request", func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) {
			if d.Null() {
				r.Request = nil
				return
			}
			r.Request = &admissionv1.AdmissionRequest{}
			requestReader.read(d, r.Request)
		}},
		{"response", func(d *fastjson.Decoder, r *admissionv1.AdmissionReview) {
			if !d.Null() {
				d.Fail() // a review sent to a webhook has none: leave it to the slow path
			}
		}},
	}
	requestReader = reader[admissionv1.AdmissionRequest]{
		{"uid", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readString(d, &r.UID) }},
		{"kind", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { gvkReader.read(d, &r.Kind) }},
		{"resource", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { gvrReader.read(d, &r.Resource) }},
		{"subResource", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readString(d, &r.SubResource) }},
		{"requestKind", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) {
			if d.Null() {
				r.RequestKind = nil
				return
			}
			r.RequestKind = &metav1.GroupVersionKind{}
			gvkReader.read(d, r.RequestKind)
		}},
		{"requestResource", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) {
			if d.Null() {
				r.RequestResource = nil
				return
			}
			r.RequestResource = &metav1.GroupVersionResource{}
			gvrReader.read(d, r.RequestResource)
		}},
		{"requestSubResource", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readString(d, &r.RequestSubResource) }},
		{"name", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readString(d, &r.Name) }},
		{"namespace", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readString(d, &r.Namespace) }},
		{"operation", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readString(d, &r.Operation) }},
		{"userInfo", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { userInfoReader.read(d, &r.UserInfo) }},
		{"object", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readRaw(d, &r.Object.Raw) }},
		{"oldObject", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readRaw(d, &r.OldObject.Raw) }},
		{"dryRun", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) {
			if d.Null() {
				r.DryRun = nil
				return
			}
			b := d.Bool()
			r.DryRun = &b
		}},
		{"options", func(d *fastjson.Decoder, r *admissionv1.AdmissionRequest) { readRaw(d, &r.Options.Raw) }},
	}
	gvkReader = reader[metav1.GroupVersionKind]{
		{"group", func(d *fastjson.Decoder, g *metav1.GroupVersionKind) { readString(d, &g.Group) }},
		{"version", func(d *fastjson.Decoder, g *metav1.GroupVersionKind) { readString(d, &g.Version) }},
		{"kind", func(d *fastjson.Decoder, g *metav1.GroupVersionKind) { readString(d, &g.Kind) }},
	}
	gvrReader = reader[metav1.GroupVersionResource]{
		{"group", func(d *fastjson.Decoder, g *metav1.GroupVersionResource) { readString(d, &g.Group) }},
		{"version", func(d *fastjson.Decoder, g *metav1.GroupVersionResource) { readString(d, &g.Version) }},
		{"resource", func(d *fastjson.Decoder, g *metav1.GroupVersionResource) { readString(d, &g.Resource) }},
	}
	userInfoReader = reader[authenticationv1.UserInfo]{
		{"username", func(d *fastjson.Decoder, u *authenticationv1.UserInfo) { readString(d, &u.Username) }},
		{"uid", func(d *fastjson.Decoder, u *authenticationv1.UserInfo) { readString(d, &u.UID) }},
		{"groups", func(d *fastjson.Decoder, u *authenticationv1.UserInfo) { u.Groups = readStrings(d) }},
		{"extra", func(d *fastjson.Decoder, u *authenticationv1.UserInfo) {
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
	metaReader = reader[meta]{
		{"name", func(d *fastjson.Decoder, m *meta) { readString(d, &m.Name) }},
		{"generateName", func(d *fastjson.Decoder, m *meta) { readString(d, &m.GenerateName) }},
		{"labels", func(d *fastjson.Decoder, m *meta) {
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
		{"deletionTimestamp", func(d *fastjson.Decoder, m *meta) { readString(d, &m.DeletionTimestamp) }},
	}
	// objectReader reads only the metadata of an object.
	objectReader = reader[meta]{
		{"metadata", func(d *fastjson.Decoder, m *meta) { metaReader.read(d, m) }},
	}
)

// readString reads a string; null leaves it unchanged, as encoding/json does.
func readString[S ~string](d *fastjson.Decoder, dst *S) {
	if d.Null() {
		return
	}
	if d.Peek() != '"' {
		d.Fail()
		return
	}
	*dst = S(d.String())
}

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
	objectReader.members(d, m)
	if !d.End() {
		return nil, false
	}
	return m, true
}
