package rules

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the CEL text the compiler is built from: literals, and
// expressions that print a JSON value the way the webhook engine prints it
// (toString for templates, JSON for messages). Every expression here is
// total: it never fails at run time, whatever value it is given, so a
// policy's failure policy never decides a verdict.

// CELString quotes s as a CEL string literal.
func CELString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r < 0x10000 && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// CELValue renders a JSON-shaped value (a Katalog or object value: nil,
// bool, string, int64, float64, []any, map[string]any) as a CEL literal.
// List and map items are wrapped in dyn() so that mixed lists type-check
// under the API server's homogeneous-literal rule.
func CELValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		return CELString(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return celDouble(x), nil
	case []any:
		items := make([]string, len(x))
		for i, e := range x {
			s, err := CELValue(e)
			if err != nil {
				return "", err
			}
			items[i] = "dyn(" + s + ")"
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		items := make([]string, len(keys))
		for i, k := range keys {
			s, err := CELValue(x[k])
			if err != nil {
				return "", err
			}
			items[i] = CELString(k) + ": dyn(" + s + ")"
		}
		return "{" + strings.Join(items, ", ") + "}", nil
	}
	return "", fmt.Errorf("a value of type %T has no CEL form", v)
}

// celDouble is a CEL double literal (always with a '.' or an exponent, so
// it never reads as an int).
func celDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "double('NaN')"
	case math.IsInf(f, 1):
		return "double('Infinity')"
	case math.IsInf(f, -1):
		return "double('-Infinity')"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	if f < 0 {
		return "(" + s + ")"
	}
	return s
}

// simpleExpr matches expressions cheap enough to repeat: literals, and
// identifiers followed by constant indexes (p2[1], object['spec'][0]).
var simpleExpr = regexp.MustCompile(`^(-?[0-9.]+|'[^'\\]*'|null|true|false|[A-Za-z_][A-Za-z0-9_.]*(\[([0-9]+|'[^'\\]*')\])*)$`)

// dynExpr matches dyn(<simple>).
var dynExpr = regexp.MustCompile(`^dyn\((.*)\)$`)

// bind gives f an expression it may repeat: x itself when simple, else a
// name bound to x's value (evaluated once). Nested helpers may reuse a
// name: each binding shadows the outer one only inside its own body.
//
// The bound value is dyn: the helpers dispatch on type at run time, which
// the type checker refuses for a value of a known type.
func bind(name, x string, f func(v string) string) string {
	if m := dynExpr.FindStringSubmatch(x); m != nil && simpleExpr.MatchString(m[1]) {
		return f(x)
	}
	if simpleExpr.MatchString(x) {
		return f("dyn(" + x + ")")
	}
	return celLet(name, x, f(name))
}

// celIsNumber is true when x is a number.
func celIsNumber(x string) string {
	return bind("nv", x, func(x string) string {
		return fmt.Sprintf("(type(%s) == int || type(%s) == uint || type(%s) == double)", x, x, x)
	})
}

// celTypeName names x's JSON type like typeName: null, string, bool, list,
// map, number.
func celTypeName(x string) string {
	return bind("tn", x, func(x string) string {
		return fmt.Sprintf("(%s == null ? 'null' : type(%s) == string ? 'string' : type(%s) == bool ? 'bool' : "+
			"type(%s) == list ? 'list' : type(%s) == map ? 'map' : %s ? 'number' : 'unknown')",
			x, x, x, x, x, celIsNumber(x))
	})
}

// celEmpty is true when x is empty in the sense of isEmpty: null, "", [] or {}.
func celEmpty(x string) string {
	return bind("em", x, func(x string) string {
		return fmt.Sprintf("(%s == null || (type(%s) == string && %s == '') || ((type(%s) == list || type(%s) == map) && size(%s) == 0))",
			x, x, x, x, x, x)
	})
}

// celNumberText prints a number as formatFloat and encoding/json do for
// integral values: 20.0 prints 20. Other doubles print in CEL's shortest
// form, which agrees with Go's below 1e6 (see the package documentation).
func celNumberText(x string) string {
	return bind("nt", x, func(x string) string {
		return fmt.Sprintf("(type(%s) == double ? ((%s > -9.0e18 && %s < 9.0e18 && double(int(%s)) == %s) ? string(int(%s)) : string(%s)) : string(%s))",
			x, x, x, x, x, x, x, x)
	})
}

// jsonEscapes are the replacements encoding/json makes inside a string.
var jsonEscapes = func() [][2]string {
	out := [][2]string{{`\`, `\\`}, {`"`, `\"`}}
	for c := rune(0); c < 0x20; c++ {
		switch c {
		case '\b':
			out = append(out, [2]string{"\b", `\b`})
		case '\f':
			out = append(out, [2]string{"\f", `\f`})
		case '\n':
			out = append(out, [2]string{"\n", `\n`})
		case '\r':
			out = append(out, [2]string{"\r", `\r`})
		case '\t':
			out = append(out, [2]string{"\t", `\t`})
		default:
			out = append(out, [2]string{string(c), fmt.Sprintf(`\u%04x`, c)})
		}
	}
	for _, c := range []rune{'<', '>', '&', '\u2028', '\u2029'} {
		out = append(out, [2]string{string(c), fmt.Sprintf(`\u%04x`, c)})
	}
	return out
}()

// jsonNeedsEscape is a CEL regex matching any character jsonEscapes rewrites.
const jsonNeedsEscape = `[\x00-\x1f"\\<>&\x{2028}\x{2029}]`

// CELVariable is a named CEL expression a policy declares under
// `variables` for the expressions this package generates.
type CELVariable struct {
	Name, Expression string
}

// CELHelpers are the variables every expression of this package may read
// (as variables.<name>): declare them first in every policy that uses the
// compiled rules.
func CELHelpers() []CELVariable {
	items := make([]string, len(jsonEscapes))
	for i, e := range jsonEscapes {
		items[i] = CELString(e[0]) + ": " + CELString(e[1])
	}
	return []CELVariable{{Name: jsonEscapesVar, Expression: "{" + strings.Join(items, ", ") + "}"}}
}

const jsonEscapesVar = "jsonEscapes"

// celJSONString quotes the string s as encoding/json does (HTML-safe),
// one character at a time through the jsonEscapes table.
func celJSONString(s string) string {
	t := "variables." + jsonEscapesVar
	return bind("qs", s, func(s string) string {
		return fmt.Sprintf(`('"' + (%s.matches(%s) ? %s.split('').map(c, c in %s ? %s[c] : c).join('') : %s) + '"')`,
			s, CELString(jsonNeedsEscape), s, t, t, s)
	})
}

// celJSONDepth is how deep celJSON encodes lists and maps; deeper values
// print as [...] and {...}.
const celJSONDepth = 3

// celJSON encodes x as compact JSON like encoding/json: map keys sorted,
// HTML-safe strings.
func celJSON(x string) string { return celJSONAt(x, celJSONDepth) }

func celJSONAt(x string, depth int) string {
	return bind(fmt.Sprintf("js%d", depth), x, func(x string) string { return celJSONOf(x, depth) })
}

// celJSONOf: a list and a map are both encoded as a list of [key, value]
// pairs (key null for a list), so each level embeds the next one once.
func celJSONOf(x string, depth int) string {
	scalar := fmt.Sprintf("%s == null ? 'null' : type(%s) == string ? %s : type(%s) == bool ? string(%s) : %s ? %s",
		x, x, celJSONString(x), x, x, celIsNumber(x), celNumberText(x))
	if depth == 0 {
		return fmt.Sprintf("(%s : type(%s) == list ? '[...]' : type(%s) == map ? '{...}' : '?')", scalar, x, x)
	}
	p, k := fmt.Sprintf("p%d", depth), fmt.Sprintf("k%d", depth)
	pairs := fmt.Sprintf("(type(%s) == list ? %s.map(%s, [dyn(null), dyn(%s)]) : %s.map(%s, %s).sort().map(%s, [dyn(%s), dyn(%s[%s])]))",
		x, x, k, k, x, k, k, k, k, x, k)
	items := fmt.Sprintf("%s.map(%s, (%s[0] == null ? '' : %s + ':') + %s).join(',')",
		pairs, p, p, celJSONString(p+"[0]"), celJSONAt(p+"[1]", depth-1))
	return fmt.Sprintf("(%s : (type(%s) == list || type(%s) == map) ? ((type(%s) == list ? '[' : '{') + %s + (type(%s) == list ? ']' : '}')) : '?')",
		scalar, x, x, x, items, x)
}

// celToString prints x as toString does for templates and messages:
// strings as they are, null as "", numbers plainly, lists and maps as JSON.
func celToString(x string) string {
	return bind("ts", x, func(x string) string {
		return fmt.Sprintf("(%s == null ? '' : type(%s) == string ? string(%s) : type(%s) == bool ? string(%s) : %s ? %s : %s)",
			x, x, x, x, x, celIsNumber(x), celNumberText(x), celJSON(x))
	})
}

// maxValueBytes bounds an offending value echoed in a denial, as the
// webhook engine does.
const maxValueBytes = 128

// CELValueString prints an offending value as the webhook engine's denials
// do: JSON, cut at a character boundary after 128 bytes with
// "...(truncated)".
func CELValueString(x string) string {
	j := "vs"
	return fmt.Sprintf("[%s].map(%s, bytes(%s).size() <= %d ? %s : (%s + '...(truncated)'))[0]",
		celJSON(x), j, j, maxValueBytes, j,
		fmt.Sprintf("%s.substring(0, lists.range(%d).reverse().filter(n, n <= %s.size() && bytes(%s.substring(0, n)).size() <= %d)[0])",
			j, maxValueBytes+1, j, j, maxValueBytes))
}

// celLet binds name to the value of expr inside body, which CEL has no
// syntax for: a one-item list mapped once. expr must not fail.
func celLet(name, expr, body string) string {
	return fmt.Sprintf("[dyn(%s)].map(%s, %s)[0]", expr, name, body)
}
