package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// Values are JSON-shaped: objects decoded by encoding/json (float64 numbers)
// and Katalog values (int64 or float64 numbers). Every helper here treats
// all number types alike.

// number returns v as a float64 when it is a number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// Equal is deep equality of JSON values, with numbers compared by value
// (int64 5 equals float64 5) and no other conversion ("5" is not 5). Two
// int64s, or an int64 and a float64, compare exactly, so large integers do
// not collide through float64 rounding.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y && y == math.Trunc(y) && math.Abs(y) < 1<<63 && int64(y) == x
		}
	case float64:
		if y, ok := b.(int64); ok {
			return Equal(y, x)
		}
	}
	return equal(a, b)
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !Equal(xv, yv) {
				return false
			}
		}
		return true
	}
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}

// isEmpty reports whether a mutation default applies to v: null, "", [] or {}.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// TypeName names the JSON type of a decoded value for messages, in the
// words of the Katalog's type operators: null, string, bool, number, list,
// map (Go's type for anything else). It is the one such name in the module:
// rules, conversion and the check pass speak the same words.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	}
	if _, ok := number(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// toString formats v for templates and messages: strings as they are, null
// as "", numbers without exponent (1000000, not 1e+06), lists and maps as JSON.
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return formatFloat(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case []any, map[string]any:
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
	case fmt.Stringer, error:
		return fmt.Sprint(x)
	}
	// Print what a pointer points at, as text/template itself does.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return ""
		}
		return toString(rv.Elem().Interface())
	}
	return fmt.Sprint(v)
}

// formatFloat formats like encoding/json: no exponent for everyday magnitudes.
func formatFloat(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
