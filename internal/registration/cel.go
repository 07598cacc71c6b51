package registration

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// globRegexp translates a path.Match pattern (the namespace globs of the
// Katalog: kube-*, *-system, ns-?, [abc]-*) into an anchored RE2 regular
// expression with the same meaning, for CEL's matches() in matchConditions:
// a label selector cannot express globs. A malformed pattern is
// path.ErrBadPattern.
func globRegexp(glob string) (string, error) {
	if !utf8.ValidString(glob) {
		return "", fmt.Errorf("%w: %q is not valid UTF-8", path.ErrBadPattern, glob)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); {
		r, n := utf8.DecodeRuneInString(glob[i:])
		i += n
		switch r {
		case '*':
			b.WriteString(`[^/]*`)
		case '?':
			b.WriteString(`[^/]`)
		case '\\':
			if i == len(glob) {
				return "", fmt.Errorf("%w: %q ends with a backslash", path.ErrBadPattern, glob)
			}
			r, n = utf8.DecodeRuneInString(glob[i:])
			i += n
			b.WriteString(regexp.QuoteMeta(string(r)))
		case '[':
			class, n, err := globClass(glob[i:])
			if err != nil {
				return "", fmt.Errorf("%w: %q: %v", path.ErrBadPattern, glob, err)
			}
			i += n
			b.WriteString(class)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return b.String(), nil
}

// globClass translates the character class after '[' in s and returns the
// regexp and how many bytes of s it used (through the closing ']').
func globClass(s string) (string, int, error) {
	i := 0
	negated := false
	if strings.HasPrefix(s, "^") {
		negated = true
		i++
	}
	var ranges []string
	for first := true; ; first = false {
		if i == len(s) {
			return "", 0, errors.New("unterminated character class")
		}
		if s[i] == ']' && !first {
			i++
			break
		}
		lo, n, err := classChar(s[i:])
		if err != nil {
			return "", 0, err
		}
		i += n
		hi := lo
		if strings.HasPrefix(s[i:], "-") {
			if hi, n, err = classChar(s[i+1:]); err != nil {
				return "", 0, err
			}
			i += 1 + n
		}
		// path.Match accepts lo > hi and matches nothing for it; RE2 rejects it.
		if lo <= hi {
			ranges = append(ranges, fmt.Sprintf(`\x{%x}-\x{%x}`, lo, hi))
		}
	}
	switch {
	case len(ranges) > 0 && negated:
		return "[^" + strings.Join(ranges, "") + "]", i, nil
	case len(ranges) > 0:
		return "[" + strings.Join(ranges, "") + "]", i, nil
	case negated: // no usable range: any one character
		return `[\x{0}-\x{10ffff}]`, i, nil
	default: // no usable range: nothing
		return `[^\x{0}-\x{10ffff}]`, i, nil
	}
}

// classChar reads one character of a class range: c (not '\\', '-', ']') or
// '\\' c.
func classChar(s string) (rune, int, error) {
	if s == "" {
		return 0, 0, errors.New("unterminated character class")
	}
	r, n := utf8.DecodeRuneInString(s)
	switch r {
	case '-', ']':
		return 0, 0, fmt.Errorf("unexpected %q in character class", r)
	case '\\':
		if len(s) == n {
			return 0, 0, errors.New("unterminated character class")
		}
		r2, n2 := utf8.DecodeRuneInString(s[n:])
		return r2, n + n2, nil
	}
	return r, n, nil
}

// celList renders strings as a CEL list literal.
func celList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = celStr(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// isGlob reports whether a namespace pattern uses any glob syntax.
func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }
