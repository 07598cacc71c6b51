package fastjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeAny decodes one whole document into an any.
func decodeAny(data []byte) (any, bool) {
	d := NewDecoder(data)
	v := d.Value()
	return v, d.End()
}

// agree checks the package's contract on data: a value it decodes is the
// value encoding/json decodes, and it validates exactly as json.Valid.
func agree(t *testing.T, data []byte) {
	t.Helper()
	var want any
	refErr := json.Unmarshal(data, &want)
	if got, ok := decodeAny(data); ok {
		if refErr != nil {
			t.Fatalf("%q: decoded %#v, encoding/json fails: %v", data, got, refErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decoded %#v, encoding/json %#v", data, got, want)
		}
	}
	var wantMap map[string]any
	mapErr := json.Unmarshal(data, &wantMap)
	if got, ok := DecodeObject(data); ok {
		if mapErr != nil || !reflect.DeepEqual(got, wantMap) {
			t.Fatalf("%q: DecodeObject %#v; encoding/json %#v, %v", data, got, wantMap, mapErr)
		}
	}
	if valid(data) != json.Valid(data) {
		t.Fatalf("%q: Valid %v, json.Valid %v", data, valid(data), json.Valid(data))
	}
}

func TestAgreesWithEncodingJSON(t *testing.T) {
	docs := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1`, `-12`, `1.5`, `1e3`, `1E-3`, `-0.0e+0`,
		`123456789012345`, `1234567890123456789`, `99999999999999999999999`, `1e308`, `1e309`, `-1e400`, `1e-400`,
		`01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `0x10`, `NaN`, `Infinity`,
		`""`, `"a"`, `"a\"b"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u0041"`, `"\u00e9"`, `"\uD83D\uDE00"`,
		`"\uD83D"`, `"\uD83Dx"`, `"\uDE00\uD83D"`, `"\uD83D\u0041"`, `"\uD83D\uD83D\uDE00"`, `"\u12"`, `"\u12G4"`,
		`"\x"`, `"\'"`, "\"a\tb\"", "\"a\x01\"", "\"\xff\"", "\"é\"", "\"\xed\xa0\x80\"", "\"\xf0\x9f\x98\x80\"",
		`"unterminated`, `"a\`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:2}`,
		`{"a":1 "b":2}`, `[1 2]`, ` {"a" : [ 1 , 2 ] } `, "\t\r\n{}\n", `{}{}`, `{} x`, `tru`, `nul`, `truex`,
		`{"a":1,"a":2}`, `{"a":{"b":1},"a":{"c":2}}`, `{"":""}`, `{"\u0061":1}`, "{\"\xff\":1}",
		`[[[[[]]]]]`, `{"a":[{"b":[null,true,false,"x",1.25]}]}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat("[", 9999) + strings.Repeat("]", 9999),
		`"` + strings.Repeat("abcdefgh", 40) + `\n` + strings.Repeat("é", 20) + `"`,
	}
	for _, d := range docs {
		agree(t, []byte(d))
	}
}

func TestRangeChecksOnlySkippedParts(t *testing.T) {
	// encoding/json fails on a number out of float64 range anywhere in a
	// document it decodes into an any, so DecodeSelected must too, even in
	// parts it does not build.
	sel := NewSelection()
	sel.Add([]Segment{{Key: "spec", Index: -1}, {Key: "a", Index: -1}})
	for doc, want := range map[string]bool{
		`{"spec":{"a":1},"status":{"n":1e400}}`:   false,
		`{"spec":{"a":1},"status":{"n":1e300}}`:   true,
		`{"spec":{"a":1},"status":{"n":"1e400"}}`: true,
		`{"spec":{"a":1e-400}}`:                   true,
	} {
		var ref map[string]any
		if refOK := json.Unmarshal([]byte(doc), &ref) == nil; refOK != want {
			t.Fatalf("%s: encoding/json ok=%v, test expects %v", doc, refOK, want)
		}
		if _, ok := DecodeSelected([]byte(doc), sel); ok != want {
			t.Errorf("%s: DecodeSelected ok=%v, want %v", doc, ok, want)
		}
	}
	// Valid is json.Valid: ranges do not matter there.
	if !valid([]byte(`{"n":1e400}`)) {
		t.Error("Valid rejects a number out of float64 range")
	}
}

// lookup follows path in v as rules.Path.Lookup does.
func lookup(v any, path []Segment) (any, bool) {
	for _, s := range path {
		if s.Index >= 0 {
			l, ok := v.([]any)
			if !ok || s.Index >= len(l) {
				return nil, false
			}
			v = l[s.Index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s.Key]; !ok {
			return nil, false
		}
	}
	return v, true
}

func key(k string) Segment { return Segment{Key: k, Index: -1} }
func index(i int) Segment  { return Segment{Index: i} }

// selections are the path sets the tests and the fuzz target decode with.
var selections = [][][]Segment{
	{{key("metadata"), key("name")}, {key("spec"), key("replicas")}},
	{{key("spec")}, {key("spec"), key("replicas")}},
	{{key("spec"), key("items"), index(1), key("name")}, {key("spec"), key("items"), index(0)}},
	{{key("a"), key("b")}, {key("a"), index(0)}, {key("a")}},
	{{key("")}, {key("a"), key("b"), key("c"), key("d")}},
	{},
}

func newSelection(paths [][]Segment) *Selection {
	s := NewSelection()
	for _, p := range paths {
		s.Add(p)
	}
	return s
}

// agreeSelected checks DecodeSelected against encoding/json: it succeeds
// only when encoding/json does, and every selected path looks up the same.
func agreeSelected(t *testing.T, data []byte, paths [][]Segment) {
	t.Helper()
	got, ok := DecodeSelected(data, newSelection(paths))
	if !ok {
		return
	}
	var want map[string]any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%q: DecodeSelected succeeds, encoding/json fails: %v", data, err)
	}
	for _, p := range paths {
		gv, gok := lookup(got, p)
		wv, wok := lookup(want, p)
		if gok != wok || !reflect.DeepEqual(gv, wv) {
			t.Fatalf("%q, path %v: selected (%#v, %v), whole (%#v, %v)", data, p, gv, gok, wv, wok)
		}
	}
}

func TestDecodeSelected(t *testing.T) {
	docs := []string{
		`{"metadata":{"name":"a","labels":{"x":"y"}},"spec":{"replicas":3,"image":"x"},"status":{}}`,
		`{"spec":{"items":[{"name":"a"},{"name":"b","big":[1,2,3]},{"name":"c"}]}}`,
		`{"spec":{"items":{"1":{"name":"map, not list"}}}}`,
		`{"a":{"b":1}}`, `{"a":[1,2]}`, `{"a":"scalar"}`, `{"a":null}`, `{"a":{"b":2},"a":[3]}`,
		`{"":1,"a":{"b":{"c":{"d":[1,{"e":"\u00e9"}]}}}}`, `{"spec":"x","spec":{"replicas":2}}`,
		`[1]`, `null`, `{"a":1`, `{"metadata":{"name":"\ud83d"}}`,
	}
	for _, d := range docs {
		for _, paths := range selections {
			agreeSelected(t, []byte(d), paths)
		}
	}
	// What is not selected is not built.
	got, ok := DecodeSelected([]byte(docs[0]), newSelection(selections[0]))
	if !ok {
		t.Fatal("a plain object was not decoded")
	}
	if _, ok := got["status"]; ok {
		t.Errorf("unselected status decoded: %v", got)
	}
	if md := got["metadata"].(map[string]any); len(md) != 1 {
		t.Errorf("metadata holds more than the selected name: %v", md)
	}
	// A list on a path keeps its length; unselected items are nil.
	got, _ = DecodeSelected([]byte(docs[1]), newSelection(selections[2]))
	items := got["spec"].(map[string]any)["items"].([]any)
	if len(items) != 3 || items[2] != nil || items[0] == nil {
		t.Errorf("items = %#v", items)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a":[1,"x",true,null,{"b":-1.5e3}],"c":"\u00e9\n"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data)
	})
}

func FuzzDecodeSelected(f *testing.F) {
	f.Add(uint8(0), []byte(`{"metadata":{"name":"a"},"spec":{"replicas":3}}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		agreeSelected(t, data, selections[int(which)%len(selections)])
	})
}
