package conversion

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// Objects are JSON values as the API server's unstructured objects hold
// them: nil, bool, string, int64 (integer literals that fit), float64 (every
// other number), []any and map[string]any. Integers stay exact, and encoding
// a decoded object gives back what the API server sent. Decoding is the
// API server's own (k8s.io/apimachinery/pkg/util/json: case-sensitive keys,
// integers preserved, nesting bounded as encoding/json bounds it).

// decodeValue decodes one JSON document, rejecting trailing data.
func decodeValue(data []byte) (any, error) {
	var v any
	if err := utiljson.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// decodeObject decodes a JSON object.
func decodeObject(data []byte) (map[string]any, error) {
	v, err := decodeValue(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object, got %s", typeName(v))
	}
	return m, nil
}

// number parses a JSON number (or a string holding one) as decodeValue
// would: int64 when it is an integer literal that fits, else float64.
func number(n json.Number) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %s is out of range", s)
	}
	return f, nil
}

// CopyObject returns a deep copy of obj, nil for nil: its maps and lists
// are new, so editing the copy never changes obj.
func CopyObject(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	return copyMap(obj)
}

// deepCopy copies maps and lists; scalars are immutable.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = deepCopy(e)
	}
	return out
}

// lookup returns the value at path in m; ok is false when any step is
// missing or not a map.
func lookup(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, k := range path {
		mm, isMap := cur.(map[string]any)
		if !isMap {
			return nil, false
		}
		v, ok := mm[k]
		if !ok {
			return nil, false
		}
		cur = v
	}
	return cur, true
}

// errNotMap reports a step of a path that holds something other than a map.
type errNotMap struct {
	path []string
	v    any
}

func (e errNotMap) Error() string {
	return fmt.Sprintf("%s is a %s, not an object", dotted(e.path), typeName(e.v))
}

// set stores v at path in m, creating missing (or null) parents. A parent
// that holds another value is an error.
func set(m map[string]any, path []string, v any) error {
	cur := m
	for i, k := range path[:len(path)-1] {
		next, ok := cur[k]
		if !ok || next == nil {
			nm := map[string]any{}
			cur[k] = nm
			cur = nm
			continue
		}
		nm, ok := next.(map[string]any)
		if !ok {
			return errNotMap{path[:i+1], next}
		}
		cur = nm
	}
	cur[path[len(path)-1]] = v
	return nil
}

// remove deletes path from m and then every parent the removal left empty,
// up to (not including) the first step. It reports whether a value was there.
func remove(m map[string]any, path []string) bool {
	parents := make([]map[string]any, 0, len(path))
	cur := m
	for _, k := range path[:len(path)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return false
		}
		parents = append(parents, cur)
		cur = next
	}
	last := path[len(path)-1]
	if _, ok := cur[last]; !ok {
		return false
	}
	delete(cur, last)
	for i := len(parents) - 1; i >= 1 && len(cur) == 0; i-- {
		delete(parents[i], path[i])
		cur = parents[i]
	}
	return true
}

func dotted(path []string) string { return strings.Join(path, ".") }

// typeName is rules.TypeName: the Katalog's words for JSON types.
var typeName = rules.TypeName
