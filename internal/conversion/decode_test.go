package conversion

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// agreeReview checks the fast decoder against json.Unmarshal on body:
// whatever it accepts it decodes the same; it reports whether it accepted.
func agreeReview(t *testing.T, body []byte) bool {
	t.Helper()
	got, ok := fastReview(body)
	var want wireReview
	err := json.Unmarshal(body, &want)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("fast path accepted what json.Unmarshal refuses (%v): %q", err, body)
	}
	if !reflect.DeepEqual(normalizeWire(got), normalizeWire(&want)) {
		t.Fatalf("fast path decoded %q as\n%+v\nwant\n%+v", body, got, &want)
	}
	return true
}

// normalizeWire turns raw objects into strings for comparison.
func normalizeWire(w *wireReview) any {
	type req struct {
		UID, Desired string
		Objects      []string
		NilObjects   bool
	}
	out := struct {
		APIVersion, Kind string
		Request          *req
	}{APIVersion: w.APIVersion, Kind: w.Kind}
	if r := w.Request; r != nil {
		out.Request = &req{UID: string(r.UID), Desired: r.DesiredAPIVersion, NilObjects: r.Objects == nil}
		for _, o := range r.Objects {
			out.Request.Objects = append(out.Request.Objects, string(o))
		}
	}
	return out
}

func TestFastReview(t *testing.T) {
	body := []byte(reviewBody("conv.example.com/v2", gadget("v1", "a", `{"size":1}`), ` { "x" : [1, 2] } `, "null"))
	if !agreeReview(t, body) {
		t.Fatal("the fast path gave up on a plain review")
	}
	// The objects are slices of the body, not copies.
	w, _ := fastReview(body)
	start, end := uintptr(unsafe.Pointer(&body[0])), uintptr(unsafe.Pointer(&body[len(body)-1]))
	for i, o := range w.Request.Objects {
		if p := uintptr(unsafe.Pointer(&o[0])); p < start || p > end {
			t.Errorf("object %d is a copy", i)
		}
	}
	for _, b := range []string{
		`{"apiVersion":"a","apiVersion":"b"}`,                             // repeated key: json.Unmarshal keeps the last
		`{"APIVERSION":"apiextensions.k8s.io/v1"}`,                        // case-insensitive match
		`{"request":{"UID":"u"}}`,                                         // case-insensitive, nested
		`{"request":{"uid":7}}`,                                           // wrong type
		`{"request":{"objects":{}}}`,                                      // wrong type
		`{"request":[]}`,                                                  // wrong type
		`{"apiVersion":"x"} {}`,                                           // trailing data
		`{"apiVersion":"x",}`,                                             // trailing comma
		`{"request":{"objects":[1,]}}`,                                    // trailing comma in a list
		strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000), // deeper than json allows
	} {
		if agreeReview(t, []byte(b)) {
			t.Errorf("the fast path accepted %.80q; it must leave it to json.Unmarshal", b)
		}
	}
	for _, b := range []string{`null`, `{}`, `{"request":null}`, `{"request":{"objects":null}}`, `{"response":{"x":[1]},"other":"y"}`} {
		if !agreeReview(t, []byte(b)) {
			t.Errorf("the fast path gave up on %q", b)
		}
	}
}

// FuzzFastReview holds the fast decoder to json.Unmarshal.
func FuzzFastReview(f *testing.F) {
	f.Add([]byte(reviewBody("conv.example.com/v2", gadget("v1", "a", `{"size":1}`))))
	f.Add([]byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u\u00e9","desiredAPIVersion":"a/b","objects":[null,{},[],"s",1e400]}}`))
	f.Add([]byte(`{"request":{"uid":"\ud800"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		agreeReview(t, body)
	})
}
