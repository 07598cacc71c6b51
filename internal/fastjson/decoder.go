// Package fastjson reads JSON on the gateway's request paths in one pass,
// without reflection: it validates a document, finds the span of a value
// without decoding it, decodes untyped values (map[string]any, []any,
// string, float64, bool, nil) and lets callers pick the few fields they
// need out of a large object.
//
// encoding/json is the reference. Whatever this package accepts it decodes
// exactly as encoding/json would; whatever it does not handle (invalid
// JSON, and the rare forms it leaves to the reference, such as keys that
// only match a field case-insensitively) makes the Decoder fail, and the
// caller decodes with encoding/json instead, which gives the reference
// result or the reference error message. Fuzz tests hold both packages to
// this contract.
package fastjson

import (
	"encoding/binary"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit; deeper documents are left to
// it (it reports them as errors).
const maxDepth = 10000

// Decoder reads one JSON document. Its methods consume values; after the
// first problem the Decoder is failed, every later call is a no-op
// returning a zero value, and OK reports false.
type Decoder struct {
	data   []byte
	pos    int
	depth  int
	failed bool
	// checkRange makes skip fail on numbers encoding/json cannot decode
	// into a float64, for callers that skip parts of what it decodes.
	checkRange bool
}

// NewDecoder reads data.
func NewDecoder(data []byte) *Decoder { return &Decoder{data: data} }

// OK reports whether every value so far was read without a problem.
func (d *Decoder) OK() bool { return !d.failed }

// Fail marks the document as not handled (callers use it for fields of
// an unexpected type); it returns false for convenience.
func (d *Decoder) Fail() bool {
	d.failed = true
	return false
}

// End reports whether the whole document was read without a problem and
// only white space follows.
func (d *Decoder) End() bool {
	d.ws()
	if d.pos != len(d.data) {
		d.failed = true
	}
	return !d.failed
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *Decoder) ws() {
	for d.pos < len(d.data) && isSpace(d.data[d.pos]) {
		d.pos++
	}
}

// Peek returns the first byte of the next value ('{', '[', '"', 't', 'f',
// 'n', '-' or a digit), 0 at the end of the data or once failed.
func (d *Decoder) Peek() byte {
	if d.failed {
		return 0
	}
	d.ws()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// Null consumes a null and reports whether there was one.
func (d *Decoder) Null() bool {
	if d.Peek() != 'n' {
		return false
	}
	return d.literal("null")
}

func (d *Decoder) literal(lit string) bool {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.Fail()
	}
	d.pos += len(lit)
	return true
}

// Bool reads true or false.
func (d *Decoder) Bool() bool {
	switch d.Peek() {
	case 't':
		return d.literal("true")
	case 'f':
		d.literal("false")
		return false
	}
	return d.Fail()
}

// strSafe marks the bytes a string may hold without escaping or decoding:
// printable ASCII except '"' and '\'.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// stringToken reads a string at the current position and returns its
// contents between the quotes; plain is true when they need no decoding
// (printable ASCII, no escape). Escapes are validated.
func (d *Decoder) stringToken() (raw []byte, plain bool) {
	if d.Peek() != '"' {
		d.Fail()
		return nil, false
	}
	start := d.pos + 1
	i := start
	data := d.data
	plain = true
	for {
		i = safeRun(data, i)
		if i >= len(data) {
			d.Fail() // unterminated
			return nil, false
		}
		switch c := data[i]; {
		case c == '"':
			d.pos = i + 1
			return data[start:i], plain
		case c == '\\':
			plain = false
			if i+1 >= len(data) {
				d.Fail()
				return nil, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex4(data[i+2:i+6]) {
					d.Fail()
					return nil, false
				}
				i += 6
			default:
				d.Fail()
				return nil, false
			}
		case c < 0x20:
			d.Fail()
			return nil, false
		default: // c >= 0x80: UTF-8, valid or not, decoded by unquote
			plain = false
			i++
		}
	}
}

// safeRun returns the index of the first byte at or after i that strSafe
// does not allow, len(data) if none. It tests eight bytes at a time.
func safeRun(data []byte, i int) int {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	for ; i+8 <= len(data); i += 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		quote := x ^ (ones * '"')
		slash := x ^ (ones * '\\')
		// A zero byte in quote or slash, a byte below 0x20, or one at or
		// above 0x80 (the bit tests of "Bit Twiddling Hacks").
		if ((quote-ones)&^quote|(slash-ones)&^slash|(x-ones*0x20)&^x|x)&high != 0 {
			break
		}
	}
	for i < len(data) && strSafe[data[i]] {
		i++
	}
	return i
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// unquote decodes the contents of a string token that is not plain
// exactly as encoding/json does: escapes, UTF-16 surrogate pairs, and
// U+FFFD for a lone surrogate or invalid UTF-8. The token was validated
// by stringToken.
func (d *Decoder) unquote(raw []byte) string {
	b := make([]byte, 0, len(raw)+utf8.UTFMax)
	for r := 0; r < len(raw); {
		c := raw[r]
		switch {
		case c == '\\':
			switch e := raw[r+1]; e {
			case 'u':
				rr := hex4(raw[r+2 : r+6])
				r += 6
				if utf16.IsSurrogate(rr) {
					if r+6 <= len(raw) && raw[r] == '\\' && raw[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, hex4(raw[r+2:r+6])); dec != unicode.ReplacementChar {
							r += 6
							b = utf8.AppendRune(b, dec)
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			default: // " \ /
				b = append(b, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			b = utf8.AppendRune(b, rr) // RuneError for invalid UTF-8: U+FFFD
			r += size
		}
	}
	return string(b)
}

// hex4 decodes four validated hex digits.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// String reads a string.
func (d *Decoder) String() string {
	raw, plain := d.stringToken()
	if d.failed {
		return ""
	}
	if plain {
		return string(raw)
	}
	return d.unquote(raw)
}

// key reads an object key and its colon. A plain key is returned as a
// slice of the data; any other is returned decoded, in a new slice.
func (d *Decoder) key() []byte {
	raw, plain := d.stringToken()
	if d.failed {
		return nil
	}
	if !plain {
		raw = []byte(d.unquote(raw))
	}
	d.ws()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		d.Fail()
		return nil
	}
	d.pos++
	return raw
}

// Object starts reading an object: it consumes '{'. Read its members with
// Member, passing the same *bool (false at first) every time.
func (d *Decoder) Object() bool { return d.open('{') }

// Member reads the key of the next member of the object being read, and
// its colon, leaving the value to the caller, who must consume it. It
// returns false at the closing '}' (consumed) or on a problem. The key is
// only valid until the next call; it is returned decoded when it had
// escapes.
func (d *Decoder) Member(started *bool) (key []byte, ok bool) {
	if !d.next('}', started) {
		return nil, false
	}
	key = d.key()
	return key, !d.failed
}

// Array starts reading an array: it consumes '['. Read its elements with
// Element, passing the same *bool (false at first) every time.
func (d *Decoder) Array() bool { return d.open('[') }

// open consumes the opening bracket c of an object or array, one level
// deeper, within maxDepth.
func (d *Decoder) open(c byte) bool {
	if d.Peek() != c {
		return d.Fail()
	}
	if d.depth++; d.depth > maxDepth {
		return d.Fail()
	}
	d.pos++
	return true
}

// Element reports whether another element follows (the caller must then
// consume it); false at the closing ']' (consumed) or on a problem.
func (d *Decoder) Element(started *bool) bool {
	return d.next(']', started)
}

// next moves to the next member or element: past a ',' unless it is the
// first, or past the closing byte.
func (d *Decoder) next(closing byte, started *bool) bool {
	c := d.Peek()
	if d.failed {
		return false
	}
	switch {
	case c == closing:
		d.pos++
		d.depth--
		return false
	case !*started:
		if c == 0 {
			return d.Fail()
		}
		*started = true
		return true
	case c == ',':
		d.pos++
		if c := d.Peek(); c == closing || c == 0 {
			return d.Fail() // a trailing comma
		}
		return true
	}
	return d.Fail()
}

// Skip validates the next value and returns its bytes.
func (d *Decoder) Skip() []byte {
	d.ws()
	start := d.pos
	d.skip()
	if d.failed {
		return nil
	}
	return d.data[start:d.pos]
}

func (d *Decoder) skip() {
	switch d.Peek() {
	case '{':
		d.Object()
		var started bool
		for {
			if _, ok := d.Member(&started); !ok {
				return
			}
			d.skip()
		}
	case '[':
		d.Array()
		var started bool
		for d.Element(&started) {
			d.skip()
		}
	case '"':
		d.stringToken()
	case 't':
		d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	default:
		if lit := d.number(); d.checkRange && !d.failed && !rangeOK(lit) {
			d.Fail()
		}
	}
}

// number reads a number token (RFC 8259 grammar) and returns it.
func (d *Decoder) number() []byte {
	if d.failed {
		return nil
	}
	data, i := d.data, d.pos
	start := i
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		d.Fail()
		return nil
	}
	if i < len(data) && data[i] == '.' {
		i++
		j := i
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		if i == j {
			d.Fail()
			return nil
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := i
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		if i == j {
			d.Fail()
			return nil
		}
	}
	d.pos = i
	return data[start:i]
}

// Float reads a number as encoding/json decodes it into an any.
func (d *Decoder) Float() float64 {
	lit := d.number()
	if d.failed {
		return 0
	}
	// Integers of up to 15 digits are exact in a float64: no need for
	// ParseFloat (nor for the string it would take).
	neg, digits := false, lit
	if digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	if len(digits) <= 15 {
		var n int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				n = -1
				break
			}
			n = n*10 + int64(c-'0')
		}
		if n >= 0 {
			if neg {
				return -float64(n)
			}
			return float64(n)
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil { // out of range: encoding/json reports it
		d.Fail()
		return 0
	}
	return f
}

// Value decodes the next value as encoding/json decodes into an any.
func (d *Decoder) Value() any {
	switch d.Peek() {
	case '{':
		return d.objectValue()
	case '[':
		d.Array()
		out := []any{}
		var started bool
		for d.Element(&started) {
			out = append(out, d.Value())
		}
		return out
	case '"':
		return d.String()
	case 't', 'f':
		return d.Bool()
	case 'n':
		d.literal("null")
		return nil
	}
	return d.Float()
}

func (d *Decoder) objectValue() map[string]any {
	if !d.Object() {
		return nil
	}
	out := map[string]any{}
	var started bool
	for {
		k, ok := d.Member(&started)
		if !ok {
			break
		}
		key := string(k)
		out[key] = d.Value()
	}
	if d.failed {
		return nil
	}
	return out
}

// DecodeObject decodes data, a JSON object, as json.Unmarshal into a
// map[string]any would; ok is false when data is not handled (not an
// object, invalid, or out of range): decode it with encoding/json then.
func DecodeObject(data []byte) (m map[string]any, ok bool) {
	d := NewDecoder(data)
	if d.Peek() != '{' {
		return nil, false
	}
	m = d.objectValue()
	if !d.End() {
		return nil, false
	}
	return m, true
}

// valid reports whether data is one valid JSON value, as json.Valid does.
func valid(data []byte) bool {
	d := NewDecoder(data)
	d.skip()
	return d.End()
}
