package fastjson

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchObject is a Website as `kubectl apply` creates it: managedFields
// and the last-applied annotation (a JSON document in a string) make most
// of its bytes.
var benchObject = []byte(`{"apiVersion":"web.example.com/v1","kind":"Website","metadata":{"name":"shop","namespace":"web",` +
	`"uid":"6a1f0c2e-5b7d-4c1e-9f3a-000000000001","generation":1,"creationTimestamp":"2026-11-27T10:00:00Z",` +
	`"labels":{"app.kubernetes.io/name":"shop","team":"payments"},"annotations":{"example.com/owner":"payments@example.com",` +
	`"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"web.example.com/v1\",\"kind\":\"Website\",` +
	`\"metadata\":{\"annotations\":{\"example.com/owner\":\"payments@example.com\"},\"labels\":{\"app.kubernetes.io/name\":\"shop\"},` +
	`\"name\":\"shop\",\"namespace\":\"web\"},\"spec\":{\"image\":\"registry.example.com/shop:1.4.2\",\"replicas\":4}}\n"},` +
	`"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"web.example.com/v1",` +
	`"time":"2026-11-27T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},` +
	`"f:example.com/owner":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},` +
	`"f:app.kubernetes.io/name":{}}},"f:spec":{".":{},"f:image":{},"f:replicas":{}}}}]},` +
	`"spec":{"replicas":4,"image":"registry.example.com/shop:1.4.2","domains":["shop.example.com","www.shop.example.com"],` +
	`"resources":{"cpu":2,"memory":4096}}}`)

func BenchmarkDecode(b *testing.B) {
	sel := NewSelection()
	for _, p := range []string{"spec.replicas", "spec.image", "metadata.name"} {
		var segs []Segment
		for _, k := range strings.Split(p, ".") {
			segs = append(segs, Segment{Key: k, Index: -1})
		}
		sel.Add(segs)
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(benchObject)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(benchObject, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeObject", func(b *testing.B) {
		b.SetBytes(int64(len(benchObject)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := DecodeObject(benchObject); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("DecodeSelected", func(b *testing.B) {
		b.SetBytes(int64(len(benchObject)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := DecodeSelected(benchObject, sel); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("Valid", func(b *testing.B) {
		b.SetBytes(int64(len(benchObject)))
		for b.Loop() {
			if !valid(benchObject) {
				b.Fatal("invalid")
			}
		}
	})
}

func TestBenchObjectAgrees(t *testing.T) {
	agree(t, benchObject)
	if _, ok := DecodeObject(benchObject); !ok {
		t.Fatal("the benchmark object is not decoded")
	}
}
