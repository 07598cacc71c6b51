package conversion

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// The API server prunes every converted object with the target version's
// structural schema (and drops nulls the schema does not allow) before
// anyone sees it. The converter does the same first, so that what the API
// server would silently drop is known, and preserved for the way back.

// metaFields are kept at the root of a resource and of embedded resources.
var metaFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true}

// node is the part of a structural schema that pruning and type
// conversion read, compiled once from the CRD (JSONSchemaProps is too large
// to walk per field and per object).
type node struct {
	typ         string
	props       map[string]*node
	additional  bool  // additionalProperties is set (with or without a schema)
	addSchema   *node // its schema; nil when it is a bare boolean
	items       *node
	preserve    bool // x-kubernetes-preserve-unknown-fields
	embedded    bool // x-kubernetes-embedded-resource
	intOrString bool
	nullable    bool
	hasDefault  bool
}

// compileSchema compiles a version's schema; nil in, nil out (unknown).
func compileSchema(s *apiextv1.JSONSchemaProps) *node {
	if s == nil {
		return nil
	}
	n := &node{
		typ:         s.Type,
		preserve:    s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields,
		embedded:    s.XEmbeddedResource,
		intOrString: s.XIntOrString,
		nullable:    s.Nullable,
		hasDefault:  s.Default != nil,
	}
	if len(s.Properties) > 0 {
		n.props = make(map[string]*node, len(s.Properties))
		for k, p := range s.Properties {
			n.props[k] = compileSchema(&p)
		}
	}
	if s.AdditionalProperties != nil {
		n.additional = true
		n.addSchema = compileSchema(s.AdditionalProperties.Schema)
	}
	if s.Items != nil {
		n.items = compileSchema(s.Items.Schema)
	}
	return n
}

// The API server prunes every converted object with the target version's
// structural schema (and drops nulls the schema does not allow) before
// anyone sees it. The converter does the same first, so that what the API
// server would silently drop is known, and preserved for the way back.

// prune removes, in place, the fields of a resource that its schema does not
// declare, as the API server's structural pruning does. A nil schema
// (unknown) prunes nothing.
func prune(obj map[string]any, s *node) {
	if s == nil {
		return
	}
	root := *s
	root.embedded = true
	pruneValue(obj, &root)
	pruneNulls(obj, s)
}

// pruneValue mirrors k8s.io/apiextensions-apiserver's pruning.prune.
func pruneValue(v any, s *node) {
	if s != nil && s.preserve {
		skipPrune(v, s)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if s == nil {
			clear(x)
			return
		}
		for k, e := range x {
			if s.embedded && metaFields[k] {
				continue
			}
			if p, ok := s.props[k]; ok {
				pruneValue(e, p)
			} else if s.additional {
				pruneValue(e, s.addSchema)
			} else {
				delete(x, k)
			}
		}
	case []any:
		items := s.itemSchema()
		for _, e := range x {
			pruneValue(e, items)
		}
	}
}

// skipPrune walks a preserve-unknown-fields node: unknown keys stay, known
// ones are pruned by their own schema.
func skipPrune(v any, s *node) {
	if s == nil {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s.embedded && metaFields[k] {
				continue
			}
			if p, ok := s.props[k]; ok {
				pruneValue(e, p)
			} else if s.additional {
				pruneValue(e, s.addSchema)
			}
		}
	case []any:
		items := s.itemSchema()
		for _, e := range x {
			skipPrune(e, items)
		}
	}
}

// pruneNulls mirrors PruneNonNullableNullsWithoutDefaults: a null where the
// schema allows none and has no default is removed.
func pruneNulls(v any, s *node) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fs := s.field(k)
			if e == nil && fs != nil && !fs.nullable && !fs.hasDefault {
				delete(x, k)
				continue
			}
			pruneNulls(e, fs)
		}
	case []any:
		items := s.itemSchema()
		for _, e := range x {
			pruneNulls(e, items)
		}
	}
}

func (s *node) itemSchema() *node {
	if s == nil {
		return nil
	}
	return s.items
}

// field is the schema of key k in an object with schema s; nil when
// unknown.
func (s *node) field(k string) *node {
	if s == nil {
		return nil
	}
	if p, ok := s.props[k]; ok {
		return p
	}
	if s.additional {
		return s.addSchema
	}
	return nil
}

// at is the schema of the field at path below s; nil when unknown.
func (s *node) at(path []string) *node {
	for _, k := range path {
		if s = s.field(k); s == nil {
			return nil
		}
	}
	return s
}

// coerce converts a rendered template value to the type the target
// field's schema declares, so "{{ .spec.size }}" fits a string field and
// "{{ .spec.count | toString }}" an integer one. Without a schema, or for
// int-or-string fields, the value is kept as it is.
func coerce(v any, s *node) (any, error) {
	if s == nil || s.intOrString || v == nil {
		return v, nil
	}
	switch s.typ {
	case "integer":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		case string:
			if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return i, nil
			}
		}
		return nil, fmt.Errorf("%s, not an integer", describe(v))
	case "number":
		switch x := v.(type) {
		case int64, float64:
			return x, nil
		case string:
			if n, err := number(json.Number(strings.TrimSpace(x))); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("%s, not a number", describe(v))
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.TrimSpace(x) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%s, not a boolean (true or false)", describe(v))
	case "string":
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return formatFloat(x), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return nil, fmt.Errorf("%s, not a string", describe(v))
	case "object", "array":
		want, article := "map", "an object" // typeName's words; the schema's in the message
		if s.typ == "array" {
			want, article = "list", "a list"
		}
		if str, ok := v.(string); ok {
			// A template that prints JSON (toJSON) fills a structured field.
			if d, err := decodeValue([]byte(str)); err == nil {
				v = d
			}
		}
		if typeName(v) != want {
			return nil, fmt.Errorf("%s, not %s", describe(v), article)
		}
		return v, nil
	}
	return v, nil
}

// describe names a value for messages: its type and, for scalars, the value.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 64 {
			x = x[:61] + "..."
		}
		return fmt.Sprintf("string %q", x)
	case int64, float64, bool:
		return fmt.Sprintf("%s %v", typeName(v), formatScalar(v))
	}
	return "a " + typeName(v)
}

func formatScalar(v any) string {
	if f, ok := v.(float64); ok {
		return formatFloat(f)
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
