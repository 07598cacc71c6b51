package conversion

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/rules"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzReview feeds arbitrary bodies to /convert: the decoder and the
// converter. Whatever the input: no panic, a 200 or a 400; a Success
// answers every object at the desired version with its identity intact,
// and converting an answer back gives the object that was sent (when it
// carried none of our annotation); a Failure answers nothing and says why.
func FuzzReview(f *testing.F) {
	c := newConverter(f, loadPolicy(f, "katalog.yaml"), Options{})
	f.Add([]byte(reviewBody("conv.example.com/v2", gadget("v1", "a", `{"size":1,"legacyMode":"x"}`), gadget("v3", "b", `{"replicas":"2"}`))))
	f.Add([]byte(reviewBody("conv.example.com/v3", gadget("v1", "a", `{"size":1,"image":"i","ports":[1,2]}`))))
	f.Add([]byte(reviewBody("conv.example.com/v1", gadget("v3", "a", `{"replicas":"007","tier":"gold"}`))))
	f.Add([]byte(reviewBody("conv.example.com/v1", gadget("v2", "a", `{"container":{"image":"x","other":1},"replicas":1.5}`))))
	f.Add([]byte(reviewBody("conv.example.com/v2", `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"p","annotations":{"`+PreservedAnnotation+`":"[{\"from\":\"v2\",\"to\":\"v1\",\"fields\":[{\"path\":[\"spec\",\"x\"],\"value\":1}]}]"}},"spec":{}}`)))
	f.Add([]byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u","desiredAPIVersion":"conv.example.com/v2","objects":[{}]}}`))
	f.Add([]byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview"}`))
	f.Add([]byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u","desiredAPIVersion":"conv.example.com/v2","objects":[{"apiVersion":"conv.example.com/v1","kind":"Gadget","spec":{"size":1e400}}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/convert", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		req, decErr := decodeReview(body)
		switch {
		case decErr != nil:
			if w.Code != http.StatusBadRequest {
				t.Fatalf("undecodable review (%v) answered %d", decErr, w.Code)
			}
			return
		case w.Code != http.StatusOK:
			t.Fatalf("a decodable review answered %d: %s", w.Code, w.Body)
		}
		var review apiextv1.ConversionReview
		if err := json.Unmarshal(w.Body.Bytes(), &review); err != nil || review.Response == nil {
			t.Fatalf("response is not a ConversionReview (%v): %s", err, w.Body)
		}
		resp := review.Response
		if resp.UID != req.UID {
			t.Fatalf("uid %q, want %q", resp.UID, req.UID)
		}
		if resp.Result.Status != metav1.StatusSuccess {
			if resp.Result.Message == "" || len(resp.ConvertedObjects) != 0 {
				t.Fatalf("failure without a message, or with objects: %+v", resp)
			}
			return
		}
		if len(resp.ConvertedObjects) != len(req.Objects) {
			t.Fatalf("%d objects answered, %d sent", len(resp.ConvertedObjects), len(req.Objects))
		}
		for i, raw := range resp.ConvertedObjects {
			in, err := decodeObject(req.Objects[i])
			if err != nil {
				t.Fatalf("object %d was converted but does not decode: %v", i, err)
			}
			out, err := decodeObject(raw.Raw)
			if err != nil {
				t.Fatalf("converted object %d is not a JSON object: %v", i, err)
			}
			if out["apiVersion"] != req.DesiredAPIVersion || out["kind"] != in["kind"] {
				t.Fatalf("object %d: apiVersion %v kind %v, want %s %v", i, out["apiVersion"], out["kind"], req.DesiredAPIVersion, in["kind"])
			}
			for _, k := range []string{"name", "namespace", "uid"} {
				a, _ := lookup(in, []string{"metadata", k})
				b, _ := lookup(out, []string{"metadata", k})
				if !rules.Equal(a, b) {
					t.Fatalf("object %d: metadata.%s changed from %v to %v", i, k, a, b)
				}
			}
			if _, ours := lookup(in, []string{"metadata", "annotations", PreservedAnnotation}); ours {
				continue
			}
			back, err := c.Convert(out, in["apiVersion"].(string))
			if err != nil {
				t.Fatalf("object %d converts but not back: %v\nsent:      %s\nconverted: %s", i, err, req.Objects[i], raw.Raw)
			}
			dropEmptyAnnotations(in)
			dropEmptyAnnotations(back)
			if !rules.Equal(back, in) {
				t.Fatalf("object %d does not round-trip\nsent:      %s\nconverted: %s\nback:      %s", i, req.Objects[i], raw.Raw, mustJSON(t, back))
			}
		}
	})
}

// dropEmptyAnnotations removes an empty metadata.annotations, and then an
// empty metadata, which the API server never sends (the fields are
// omitempty) and a round trip through our annotation does not keep.
func dropEmptyAnnotations(o map[string]any) {
	if meta, ok := o["metadata"].(map[string]any); ok {
		if a, ok := meta["annotations"].(map[string]any); ok && len(a) == 0 {
			delete(meta, "annotations")
		}
		if len(meta) == 0 {
			delete(o, "metadata")
		}
	}
}

// FuzzDecodeStack: the annotation parser never panics, and what it accepts
// encodes and decodes to the same stack.
func FuzzDecodeStack(f *testing.F) {
	f.Add(`[{"from":"v1","to":"v2","fields":[{"path":["spec","legacyMode"],"value":"on"}]}]`)
	f.Add(`[{"from":"v3","to":"v2","fields":[{"path":["spec","tier"],"value":"gold","base":"standard"},{"path":["spec","x"],"base":null}]}]`)
	f.Add(`[]`)
	f.Add(`[{"from":"v1","to":"v2","fields":[{"path":[]}]}]`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, s string) {
		stack, err := decodeStack(s)
		if err != nil {
			return
		}
		enc, err := encodeStack(stack)
		if err != nil {
			t.Fatalf("decoded stack does not encode: %v", err)
		}
		again, err := decodeStack(string(enc))
		if err != nil {
			t.Fatalf("encoded stack %s does not decode: %v", enc, err)
		}
		if len(again) != len(stack) {
			t.Fatalf("%d entries, then %d", len(stack), len(again))
		}
		for i := range stack {
			a, b := stack[i], again[i]
			if a.From != b.From || a.To != b.To || len(a.Fields) != len(b.Fields) {
				t.Fatalf("entry %d changed: %+v -> %+v", i, a, b)
			}
			for j := range a.Fields {
				x, y := a.Fields[j], b.Fields[j]
				if dotted(x.Path) != dotted(y.Path) || x.HasValue != y.HasValue || x.HasBase != y.HasBase || !rules.Equal(x.Value, y.Value) || !rules.Equal(x.Base, y.Base) {
					t.Fatalf("field %d.%d changed: %+v -> %+v", i, j, x, y)
				}
			}
		}
	})
}

// FuzzEncodeValue: the converter's JSON encoder writes what encoding/json
// (HTML escaping off) writes, byte for byte, for every decodable value.
func FuzzEncodeValue(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[1.5,-0.0,1e21,1e-7,123456789012345678,null,true,"x"]}`,
		`"\u2028\u2029<>&\u0000\u001f\ud800 \"\\ é"`,
		`{"":{"\t":[[],{}]}}`,
		`-1.0000000000000002`,
		`9223372036854775807`,
		`9223372036854775808`,
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte{'"', 0xff, 0xfe, '"'})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeValue(data)
		if err != nil {
			return
		}
		mine, err := encodeValue(v)
		if err != nil {
			t.Fatalf("cannot encode %s: %v", data, err)
		}
		theirs, err := marshal(v)
		if err != nil {
			t.Fatalf("encoding/json cannot encode %s: %v", data, err)
		}
		if string(mine) != string(theirs) {
			t.Fatalf("encodings differ for %q\nmine:   %s\ntheirs: %s", data, mine, theirs)
		}
	})
}

// fuzzKey and fuzzID seal the seeds of FuzzUnseal.
var (
	fuzzKey = bytes.Repeat([]byte("k"), MinKeyBytes)
	fuzzID  = identity{group: "conv.example.com", kind: "Gadget", namespace: "d", name: "g"}
)

// FuzzUnseal: the annotation decoder never panics; what it accepts was
// sealed with the key for exactly this object (the same value is refused for
// any other identity), and its stack sealed again unseals to the same stack.
func FuzzUnseal(f *testing.F) {
	stack := `[{"from":"v1","to":"v2","fields":[{"path":["spec","legacyMode"],"value":"on"}]}]`
	f.Add(string(seal(fuzzKey, fuzzID, []byte(stack))))
	f.Add(stack)
	f.Add(`{"mac":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","stack":[]}`)
	f.Add(`{"mac":null,"stack":null}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, value string) {
		got, err := unseal(value, fuzzKey, fuzzID)
		if err != nil {
			var ue *unsealError
			if !errors.As(err, &ue) || ue.reason == "" || ue.Error() == "" {
				t.Fatalf("error %v is not an *unsealError with a reason", err)
			}
			return
		}
		for _, other := range []identity{
			{fuzzID.group, fuzzID.kind, fuzzID.namespace, "g2"},
			{fuzzID.group, fuzzID.kind, "", fuzzID.namespace + "g"},
			{fuzzID.group, "Gadgets", fuzzID.namespace, fuzzID.name},
		} {
			if _, err := unseal(value, fuzzKey, other); err == nil {
				t.Fatalf("%q unseals for %+v as well as for %+v", value, other, fuzzID)
			}
		}
		enc, err := encodeStack(got)
		if err != nil {
			t.Fatalf("accepted stack does not encode: %v", err)
		}
		again, err := unseal(string(seal(fuzzKey, fuzzID, enc)), fuzzKey, fuzzID)
		if err != nil || len(again) != len(got) {
			t.Fatalf("resealed stack: %d entries, %v; want %d", len(again), err, len(got))
		}
	})
}
