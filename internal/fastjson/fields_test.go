package fastjson

import (
	"encoding/json"
	"reflect"
	"testing"
)

type pair struct {
	A string `json:"a"`
	B string `json:"b"`
}

var pairFields = Fields[pair]{
	{Name: "a", Read: func(d *Decoder, p *pair) { ReadString(d, &p.A) }},
	{Name: "b", Read: func(d *Decoder, p *pair) { ReadString(d, &p.B) }},
}

// A Fields table decodes what json.Unmarshal decodes, and gives up on what
// it would decode differently (repeated and case-folded keys).
func TestFields(t *testing.T) {
	for doc, ok := range map[string]bool{
		`{"a":"x","b":"y"}`:          true,
		`{"b":"y","z":[1,{"a":2}]}`:  true,
		`{"a":null}`:                 true,
		`null`:                       true,
		`{}`:                         true,
		`{"a":"x","a":"y"}`:          false,
		`{"A":"x"}`:                  false,
		`{"a":1}`:                    false,
		`[]`:                         false,
		`{"a":"x",}`:                 false,
		`{"a":"\u00e9\ud83d\ude00"}`: true,
	} {
		d := NewDecoder([]byte(doc))
		var got pair
		pairFields.Read(d, &got)
		if d.End() != ok {
			t.Errorf("%s: decoded %v, want %v", doc, d.OK(), ok)
			continue
		}
		if !ok {
			continue
		}
		var want pair
		if err := json.Unmarshal([]byte(doc), &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, json.Unmarshal %+v (%v)", doc, got, want, err)
		}
	}
	if got := pairFields.Names(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Names = %q", got)
	}
}
