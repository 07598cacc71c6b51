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
	var seen fields
	if !d.Object() {
		return nil, false
	}
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			break
		}
		switch string(k) {
		case "apiVersion":
			readString(d, &seen, 0, &review.APIVersion)
		case "kind":
			readString(d, &seen, 1, &review.Kind)
		case "request":
			if !seen.first(d, 2) || d.Null() {
				continue
			}
			review.Request = &admissionv1.AdmissionRequest{}
			readRequest(d, review.Request)
		case "response":
			if !seen.first(d, 3) || !d.Null() {
				return nil, false // a review sent to a webhook has none: leave it to the slow path
			}
		default:
			unknown(d, k, reviewFields)
		}
	}
	if !d.End() {
		return nil, false
	}
	return review, true
}

var (
	reviewFields   = []string{"apiVersion", "kind", "request", "response"}
	requestFields  = []string{"uid", "kind", "resource", "subResource", "requestKind", "requestResource", "requestSubResource", "name", "namespace", "operation", "userInfo", "object", "oldObject", "dryRun", "options"}
	gvkFields      = []string{"group", "version", "kind"}
	gvrFields      = []string{"group", "version", "resource"}
	userInfoFields = []string{"username", "uid", "groups", "extra"}
)

// fields records which fields of one object were read, to give up on
// repeated keys (encoding/json merges them; the slow path does that).
type fields uint32

func (f *fields) first(d *fastjson.Decoder, i int) bool {
	if *f&(1<<i) != 0 {
		return d.Fail()
	}
	*f |= 1 << i
	return true
}

// unknown skips the value of a key that is none of known, unless it
// matches one case-insensitively: encoding/json would fill that field.
func unknown(d *fastjson.Decoder, key []byte, known []string) {
	for _, k := range known {
		if bytes.EqualFold(key, []byte(k)) {
			d.Fail()
			return
		}
	}
	d.Skip()
}

// readString reads a string field; null leaves it unchanged, as
// encoding/json does.
func readString[S ~string](d *fastjson.Decoder, seen *fields, i int, dst *S) {
	if !seen.first(d, i) || d.Null() {
		return
	}
	if d.Peek() != '"' {
		d.Fail()
		return
	}
	*dst = S(d.String())
}

func readRequest(d *fastjson.Decoder, req *admissionv1.AdmissionRequest) {
	var seen fields
	if !d.Object() {
		return
	}
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			return
		}
		switch string(k) {
		case "uid":
			readString(d, &seen, 0, &req.UID)
		case "kind":
			if seen.first(d, 1) && !d.Null() {
				readGVK(d, &req.Kind)
			}
		case "resource":
			if seen.first(d, 2) && !d.Null() {
				readGVR(d, &req.Resource)
			}
		case "subResource":
			readString(d, &seen, 3, &req.SubResource)
		case "requestKind":
			if seen.first(d, 4) && !d.Null() {
				req.RequestKind = &metav1.GroupVersionKind{}
				readGVK(d, req.RequestKind)
			} else {
				req.RequestKind = nil
			}
		case "requestResource":
			if seen.first(d, 5) && !d.Null() {
				req.RequestResource = &metav1.GroupVersionResource{}
				readGVR(d, req.RequestResource)
			} else {
				req.RequestResource = nil
			}
		case "requestSubResource":
			readString(d, &seen, 6, &req.RequestSubResource)
		case "name":
			readString(d, &seen, 7, &req.Name)
		case "namespace":
			readString(d, &seen, 8, &req.Namespace)
		case "operation":
			readString(d, &seen, 9, &req.Operation)
		case "userInfo":
			if seen.first(d, 10) && !d.Null() {
				readUserInfo(d, &req.UserInfo)
			}
		case "object":
			readRaw(d, &seen, 11, &req.Object.Raw)
		case "oldObject":
			readRaw(d, &seen, 12, &req.OldObject.Raw)
		case "dryRun":
			if !seen.first(d, 13) {
				return
			}
			if d.Null() {
				req.DryRun = nil
				continue
			}
			b := d.Bool()
			req.DryRun = &b
		case "options":
			readRaw(d, &seen, 14, &req.Options.Raw)
		default:
			unknown(d, k, requestFields)
		}
	}
}

// readRaw keeps a value as runtime.RawExtension.UnmarshalJSON does (null
// leaves it unset), as a slice of the body.
func readRaw(d *fastjson.Decoder, seen *fields, i int, dst *[]byte) {
	if !seen.first(d, i) || d.Null() {
		return
	}
	*dst = d.Skip()
}

func readGVK(d *fastjson.Decoder, gvk *metav1.GroupVersionKind) {
	var seen fields
	if !d.Object() {
		return
	}
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			return
		}
		switch string(k) {
		case "group":
			readString(d, &seen, 0, &gvk.Group)
		case "version":
			readString(d, &seen, 1, &gvk.Version)
		case "kind":
			readString(d, &seen, 2, &gvk.Kind)
		default:
			unknown(d, k, gvkFields)
		}
	}
}

func readGVR(d *fastjson.Decoder, gvr *metav1.GroupVersionResource) {
	var seen fields
	if !d.Object() {
		return
	}
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			return
		}
		switch string(k) {
		case "group":
			readString(d, &seen, 0, &gvr.Group)
		case "version":
			readString(d, &seen, 1, &gvr.Version)
		case "resource":
			readString(d, &seen, 2, &gvr.Resource)
		default:
			unknown(d, k, gvrFields)
		}
	}
}

func readUserInfo(d *fastjson.Decoder, u *authenticationv1.UserInfo) {
	var seen fields
	if !d.Object() {
		return
	}
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			return
		}
		switch string(k) {
		case "username":
			readString(d, &seen, 0, &u.Username)
		case "uid":
			readString(d, &seen, 1, &u.UID)
		case "groups":
			if seen.first(d, 2) {
				u.Groups = readStrings(d)
			}
		case "extra":
			if !seen.first(d, 3) {
				return
			}
			if d.Null() {
				u.Extra = nil
				continue
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			if !d.Object() {
				return
			}
			var started bool
			for {
				k, more := d.Member(&started)
				if !more {
					break
				}
				key := string(k)
				if _, dup := u.Extra[key]; dup {
					d.Fail()
					return
				}
				u.Extra[key] = readStrings(d)
			}
		default:
			unknown(d, k, userInfoFields)
		}
	}
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
	var seen bool
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			break
		}
		if string(k) != "metadata" {
			unknown(d, k, []string{"metadata"})
			continue
		}
		if seen {
			return nil, false
		}
		seen = true
		if !d.Null() {
			readMeta(d, m)
		}
	}
	if !d.End() {
		return nil, false
	}
	return m, true
}

var metaFields = []string{"name", "generateName", "labels", "deletionTimestamp"}

func readMeta(d *fastjson.Decoder, m *meta) {
	var seen fields
	if !d.Object() {
		return
	}
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			return
		}
		switch string(k) {
		case "name":
			readString(d, &seen, 0, &m.Name)
		case "generateName":
			readString(d, &seen, 1, &m.GenerateName)
		case "deletionTimestamp":
			readString(d, &seen, 2, &m.DeletionTimestamp)
		case "labels":
			if !seen.first(d, 3) {
				return
			}
			if d.Null() {
				m.Labels = nil
				continue
			}
			if !d.Object() {
				return
			}
			m.Labels = map[string]string{}
			var started bool
			for {
				k, more := d.Member(&started)
				if !more {
					break
				}
				if d.Null() { // leaves the value unset: rare enough for the slow path
					d.Fail()
					return
				}
				if d.Peek() != '"' {
					d.Fail()
					return
				}
				m.Labels[string(k)] = d.String()
			}
		default:
			unknown(d, k, metaFields)
		}
	}
}
