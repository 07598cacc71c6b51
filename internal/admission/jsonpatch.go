package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// applyPatch applies an RFC 6902 JSONPatch of add, remove, replace and test
// operations (what the mutation webhook emits) to the JSON document doc.
// Review uses it to show validating webhooks the mutated object, as the API
// server does; the server itself never applies patches.
func applyPatch(doc, patch []byte) ([]byte, error) {
	var ops []struct {
		Op    string          `json:"op"`
		Path  *string         `json:"path"`
		Value json.RawMessage `json:"value"` // "null" when null, empty when absent
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, jsonError("JSONPatch", err)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, jsonError("object", err)
	}
	for i, op := range ops {
		if op.Path == nil {
			return nil, fmt.Errorf("JSONPatch operation %d (%s) has no path", i, op.Op)
		}
		tokens, err := parsePointer(*op.Path)
		if err != nil {
			return nil, fmt.Errorf("JSONPatch operation %d: %w", i, err)
		}
		var val any
		switch op.Op {
		case "add", "replace", "test":
			if len(op.Value) == 0 {
				return nil, fmt.Errorf("JSONPatch operation %d (%s %s) has no value", i, op.Op, *op.Path)
			}
			if err := json.Unmarshal(op.Value, &val); err != nil {
				return nil, jsonError("JSONPatch value", err)
			}
		case "remove":
		default:
			return nil, fmt.Errorf("JSONPatch operation %d: unsupported op %q", i, op.Op)
		}
		if v, err = patchAt(v, tokens, op.Op, val); err != nil {
			return nil, fmt.Errorf("JSONPatch operation %d (%s %s): %w", i, op.Op, *op.Path, err)
		}
	}
	return json.Marshal(v)
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' {
				if j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1') {
					return nil, fmt.Errorf("JSON pointer %q: ~ must be followed by 0 or 1", p)
				}
				j++
			}
		}
		tokens[i] = unescapeToken.Replace(t)
	}
	return tokens, nil
}

// unescapeToken decodes ~1 then ~0 in one left-to-right pass, so "~01" is "~1".
var unescapeToken = strings.NewReplacer("~1", "/", "~0", "~")

// patchAt applies one operation at tokens below doc and returns the new doc
// (a list that grows or shrinks is a new slice, so parents store the result).
func patchAt(doc any, tokens []string, op string, val any) (any, error) {
	if len(tokens) == 0 {
		switch op {
		case "remove":
			return nil, errors.New("cannot remove the whole document")
		case "test":
			return doc, testEqual(doc, val)
		}
		return val, nil
	}
	tok, last := tokens[0], len(tokens) == 1
	switch c := doc.(type) {
	case map[string]any:
		child, ok := c[tok]
		if !last {
			if !ok {
				return nil, fmt.Errorf("member %q does not exist", tok)
			}
			nc, err := patchAt(child, tokens[1:], op, val)
			c[tok] = nc
			return c, err
		}
		switch {
		case op == "add":
			c[tok] = val
		case !ok:
			return nil, fmt.Errorf("member %q does not exist", tok)
		case op == "replace":
			c[tok] = val
		case op == "remove":
			delete(c, tok)
		case op == "test":
			return c, testEqual(child, val)
		}
		return c, nil
	case []any:
		i, err := listIndex(tok, len(c), last && op == "add")
		if err != nil {
			return nil, err
		}
		if !last {
			nc, err := patchAt(c[i], tokens[1:], op, val)
			c[i] = nc
			return c, err
		}
		switch op {
		case "add":
			c = append(c, nil)
			copy(c[i+1:], c[i:])
			c[i] = val
		case "replace":
			c[i] = val
		case "remove":
			c = append(c[:i], c[i+1:]...)
		case "test":
			return c, testEqual(c[i], val)
		}
		return c, nil
	default:
		return nil, fmt.Errorf("cannot address %q inside a %s", tok, jsonType(doc))
	}
}

// listIndex parses a list index token; insert allows len (and "-") for add.
func listIndex(tok string, n int, insert bool) (int, error) {
	if tok == "-" && insert {
		return n, nil
	}
	if tok == "" || strings.Trim(tok, "0123456789") != "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("list index %q is not a non-negative integer", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil { // too large
		return 0, fmt.Errorf("list index %q out of range (length %d)", tok, n)
	}
	if i > n || (i == n && !insert) {
		return 0, fmt.Errorf("list index %d out of range (length %d)", i, n)
	}
	return i, nil
}

func testEqual(got, want any) error {
	if !reflect.DeepEqual(got, want) {
		return errors.New("test failed: value differs")
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return fmt.Sprintf("%T", v)
}
