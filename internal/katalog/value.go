package katalog

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// value converts any YAML value to JSON-compatible data (string, int64,
// float64, bool, nil, []any, map[string]any), recording positions inside
// it. Wrong parts are reported and left nil.
func (d *decoder) value(n *yaml.Node, path string, depth int) any {
	if d.stopped || !d.usable(n, path, depth) {
		return nil
	}
	return d.valueOf(n, path, depth)
}

// valueOf converts a usable node.
func (d *decoder) valueOf(n *yaml.Node, path string, depth int) any {
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			if d.stopped {
				break
			}
			ipath := fmt.Sprintf("%s[%d]", path, i)
			d.pos[ipath] = posOf(item)
			out = append(out, d.value(item, ipath, depth+1))
		}
		return out
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		d.pairs(n, path, depth, func(k, val *yaml.Node, key, kpath string) {
			d.pos[kpath] = posOf(k)
			out[key] = d.value(val, kpath, depth+1)
		})
		return out
	case yaml.ScalarNode:
		return d.scalarValue(n, path)
	}
	d.fail(n, path, "", "%s: unsupported YAML node", d.subject(path))
	return nil
}

func (d *decoder) scalarValue(n *yaml.Node, path string) any {
	switch n.ShortTag() {
	case tagNull:
		return nil
	case tagBool:
		if b, ok := parseBool(n.Value); ok {
			return b
		}
		d.fail(n, path, "use true or false", "%s: %q is not a boolean", d.subject(path), clip(n.Value))
	case tagInt:
		if i, err := parseInt(n.Value); err == nil {
			return i
		}
		d.fail(n, path, "quote it to keep it as a string", "%s: integer %s does not fit in 64 bits", d.subject(path), clip(n.Value))
	case tagFloat:
		if f, ok := parseFloat(n.Value); ok {
			return f
		}
		d.fail(n, path, "", "%s: %s is not a finite number", d.subject(path), clip(n.Value))
	default: // strings, timestamps (kept as written) and a lone "<<"
		return n.Value
	}
	return nil
}

// parseBool accepts the YAML 1.2 core booleans only: true/false in lower,
// title or upper case (never yes/no/on/off).
func parseBool(s string) (bool, bool) {
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// parseInt parses a YAML integer: decimal (a leading 0 does not make it
// octal), or 0x, 0o, 0b prefixed, with optional sign and _ separators.
func parseInt(s string) (int64, error) {
	t := strings.ReplaceAll(s, "_", "")
	sign := ""
	if t != "" && (t[0] == '-' || t[0] == '+') {
		sign, t = t[:1], t[1:]
	}
	base := 10
	if len(t) > 2 && t[0] == '0' {
		switch t[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			t = t[2:]
		}
	}
	return strconv.ParseInt(sign+t, base, 64)
}

// parseFloat parses a finite YAML float; .inf and .nan have no JSON form.
func parseFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
