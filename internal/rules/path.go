package rules

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path is a parsed field path. The syntax:
//
//	spec.replicas                                  keys separated by dots
//	spec.containers[0].image                       [N] indexes a list (N >= 0)
//	metadata.annotations["app.kubernetes.io/name"] ["..."] is a key that may hold anything
//	spec.containers[*].image                       [*] is every element of a list
//
// A bare key is one or more characters other than '.', '[', ']', '"' and
// white space ('/' and '-' are fine: metadata.labels.team/owner). Any other
// key is written in brackets as a double-quoted Go string literal, so a quote
// or backslash inside it is escaped (\" and \\). A path starts with a key,
// never with a list index, because objects are maps at the top.
type Path struct {
	segs []segment
	text string // canonical form, see String
}

// segment is one step of a Path: a map key (index -1), a list index
// (index >= 0) or every element of a list (index Wildcard).
type segment struct {
	key   string
	index int
}

// Wildcard is the index of a [*] segment (see Path.Segment).
const Wildcard = -2

func (s segment) isIndex() bool { return s.index >= 0 }

func (s segment) isWildcard() bool { return s.index == Wildcard }

func (s segment) isKey() bool { return s.index == -1 }

// maxIndex bounds list indexes so that a path cannot overflow int.
const maxIndex = 1 << 30

// ParsePath parses a field path; the error names the offset of the problem.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return Path{}, fmt.Errorf("empty field path")
	}
	if !utf8.ValidString(s) {
		return Path{}, fmt.Errorf("field path %q is not valid UTF-8", s)
	}
	var segs []segment
	i := 0
	for i < len(s) {
		switch {
		case s[i] == '[':
			seg, n, err := parseBracket(s, i)
			if err != nil {
				return Path{}, err
			}
			if len(segs) == 0 && !seg.isKey() {
				return Path{}, fmt.Errorf("field path %q starts with a list index; it must start with a key", s)
			}
			segs = append(segs, seg)
			i = n
		case i > 0 && s[i] != '.':
			// Only after a "]": "a]b" and "a"b" stop the bare key below.
			r, _ := utf8.DecodeRuneInString(s[i:])
			return Path{}, fmt.Errorf("field path %q: unexpected %q at offset %d; expected '.' or '['", s, r, i)
		default:
			if i > 0 {
				i++ // the dot
			}
			n := bareKeyEnd(s, i)
			if n == i {
				if i >= len(s) {
					return Path{}, fmt.Errorf("field path %q ends with '.'; expected a key", s)
				}
				r, _ := utf8.DecodeRuneInString(s[i:])
				return Path{}, fmt.Errorf("field path %q: expected a key at offset %d, found %q (write keys holding . [ ] \" or spaces as [\"key\"])", s, i, r)
			}
			segs = append(segs, segment{key: s[i:n], index: -1})
			i = n
		}
	}
	p := Path{segs: segs}
	p.text = p.format()
	return p, nil
}

// parseBracket parses "[N]", "[*]" or "[\"key\"]" at s[i] and returns the offset after "]".
func parseBracket(s string, i int) (segment, int, error) {
	j := i + 1
	if strings.HasPrefix(s[j:], "*]") {
		return segment{index: Wildcard}, j + 2, nil
	}
	if j < len(s) && s[j] == '"' {
		end := j + 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) {
			return segment{}, 0, fmt.Errorf("field path %q: unterminated quoted key at offset %d", s, j)
		}
		key, err := strconv.Unquote(s[j : end+1])
		if err != nil {
			return segment{}, 0, fmt.Errorf("field path %q: bad quoted key %s at offset %d: %v", s, s[j:end+1], j, err)
		}
		end++
		if end >= len(s) || s[end] != ']' {
			return segment{}, 0, fmt.Errorf("field path %q: expected ']' after quoted key at offset %d", s, end)
		}
		return segment{key: key, index: -1}, end + 1, nil
	}
	end := j
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == j || end >= len(s) || s[end] != ']' {
		return segment{}, 0, fmt.Errorf("field path %q: expected a list index [N], every element [*] or a quoted key [\"key\"] at offset %d", s, i)
	}
	digits := s[j:end]
	if len(digits) > 1 && digits[0] == '0' {
		return segment{}, 0, fmt.Errorf("field path %q: list index %s has a leading zero", s, digits)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > maxIndex {
		return segment{}, 0, fmt.Errorf("field path %q: list index %s is too large", s, digits)
	}
	return segment{index: n}, end + 1, nil
}

func bareKeyEnd(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isBareKeyRune(r) {
			break
		}
		i += size
	}
	return i
}

func isBareKeyRune(r rune) bool {
	switch r {
	case '.', '[', ']', '"':
		return false
	}
	return !unicode.IsSpace(r) && unicode.IsPrint(r)
}

// format renders the canonical form: bare keys where possible, ["key"] otherwise.
func (p Path) format() string {
	var b strings.Builder
	for i, s := range p.segs {
		switch {
		case s.isWildcard():
			b.WriteString("[*]")
		case s.isIndex():
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		case needsQuote(s.key):
			b.WriteByte('[')
			b.WriteString(strconv.Quote(s.key))
			b.WriteByte(']')
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		}
	}
	return b.String()
}

func needsQuote(key string) bool {
	if key == "" || !utf8.ValidString(key) {
		return true
	}
	for _, r := range key {
		if !isBareKeyRune(r) {
			return true
		}
	}
	return false
}

// String returns the canonical form of the path; ParsePath reads it back.
func (p Path) String() string { return p.text }

// Len returns the number of segments.
func (p Path) Len() int { return len(p.segs) }

// Wildcard reports whether the path holds a [*] segment.
func (p Path) Wildcard() bool {
	for _, s := range p.segs {
		if s.isWildcard() {
			return true
		}
	}
	return false
}

// Lookup returns the value at the path and whether it is present. A present
// JSON null is (nil, true); a path through a null, a scalar or a missing list
// element is absent, and so is every path holding [*] (see Each).
func (p Path) Lookup(obj map[string]any) (any, bool) {
	var cur any = obj
	for _, s := range p.segs {
		if s.isWildcard() {
			return nil, false
		}
		if s.isIndex() {
			l, ok := cur.([]any)
			if !ok || s.index >= len(l) {
				return nil, false
			}
			cur = l[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Each calls fn for every element a path with [*] selects in obj: once per
// combination of the list elements present, with the indexes chosen for
// the [*] segments in order, the value below them and whether it is
// present. A [*] over an absent list, an empty list, a null or anything
// that is not a list selects nothing, so fn is not called for it; a key
// missing below an element is a call with present false. A path without
// [*] is one call, as Lookup. fn returning false stops the walk.
func (p Path) Each(obj map[string]any, fn func(indexes []int, v any, present bool) bool) {
	var stack [4]int
	p.each(obj, 0, stack[:0], fn)
}

func (p Path) each(cur any, from int, indexes []int, fn func([]int, any, bool) bool) bool {
	// Missing above a [*] means no list: nothing is selected there.
	missing := func(i int) bool {
		for _, s := range p.segs[i:] {
			if s.isWildcard() {
				return true
			}
		}
		return fn(indexes, nil, false)
	}
	for i := from; i < len(p.segs); i++ {
		s := p.segs[i]
		switch {
		case s.isWildcard():
			l, _ := cur.([]any)
			for j, e := range l {
				if !p.each(e, i+1, append(indexes, j), fn) {
					return false
				}
			}
			return true
		case s.isIndex():
			l, ok := cur.([]any)
			if !ok || s.index >= len(l) {
				return missing(i)
			}
			cur = l[s.index]
		default:
			m, ok := cur.(map[string]any)
			if !ok {
				return missing(i)
			}
			if cur, ok = m[s.key]; !ok {
				return missing(i)
			}
		}
	}
	return fn(indexes, cur, true)
}

// Concrete returns the path with its [*] segments replaced, in order, by
// indexes (as Each gives them): spec.containers[*].image with [1] is
// spec.containers[1].image. Extra indexes are ignored; [*] segments left
// without one stay [*].
func (p Path) Concrete(indexes []int) Path {
	if !p.Wildcard() {
		return p
	}
	segs := make([]segment, len(p.segs))
	copy(segs, p.segs)
	for i := range segs {
		if segs[i].isWildcard() && len(indexes) > 0 {
			segs[i].index, indexes = indexes[0], indexes[1:]
		}
	}
	q := Path{segs: segs}
	q.text = q.format()
	return q
}

// beforeWildcard returns the path up to its first [*] (the list itself),
// or the whole path when it has none.
func (p Path) beforeWildcard() Path {
	for i, s := range p.segs {
		if s.isWildcard() {
			q := Path{segs: p.segs[:i:i]}
			q.text = q.format()
			return q
		}
	}
	return p
}

// Pointer returns the RFC 6901 JSON pointer of the path ("/metadata/annotations/app.kubernetes.io~1name").
func (p Path) Pointer() string { return p.pointer(len(p.segs)) }

// pointer returns the JSON pointer of the first n segments.
func (p Path) pointer(n int) string {
	var b strings.Builder
	for _, s := range p.segs[:n] {
		b.WriteByte('/')
		if s.isIndex() {
			b.WriteString(strconv.Itoa(s.index))
			continue
		}
		b.WriteString(pointerEscaper.Replace(s.key))
	}
	return b.String()
}

// pointerEscaper applies RFC 6901: "~" first, so "/" -> "~1" is not re-escaped.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
