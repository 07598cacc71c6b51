package rules

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// Objects may come from other decoders (int, json.Number): numbers are numbers.
func TestEqualNumbers(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{3, 3.0, true},
		{int64(3), json.Number("3"), true},
		{json.Number("2.5"), 2.5, true},
		{json.Number("x"), 0.0, false},
		{3, "3", false},
		{nil, nil, true},
		{nil, false, false},
		{int32(1), int32(1), true},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestToString(t *testing.T) {
	n := 7
	tests := []struct {
		v    any
		want string
	}{
		{nil, ""},
		{3, "3"},
		{int64(-4), "-4"},
		{1e6, "1000000"},
		{-0.5, "-0.5"},
		{errors.New("boom"), "boom"},
		{time.Second, "1s"},
		{&n, "7"},
		{(*int)(nil), ""},
		{int8(5), "5"},
	}
	for _, tt := range tests {
		if got := toString(tt.v); got != tt.want {
			t.Errorf("toString(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := TypeName(int8(1)); got != "int8" {
		t.Errorf("TypeName(int8) = %q", got)
	}
}
