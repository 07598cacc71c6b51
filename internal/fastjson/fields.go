package fastjson

import "bytes"

// Fields reads a JSON object into a *T from a table of its members, as
// json.Unmarshal would into the struct whose json tags the names are: a
// member's Read gets its value whatever it is (null included), unknown keys
// are skipped, and a key that is repeated, or matches a member only
// case-insensitively, fails the Decoder (encoding/json merges the one and
// fills the other; the caller's fallback decides those). A table holds at
// most 32 members.
type Fields[T any] []Field[T]

// Field is one member of a Fields table.
type Field[T any] struct {
	Name string
	Read func(d *Decoder, dst *T)
}

// Names are the table's keys, in order.
func (f Fields[T]) Names() []string {
	out := make([]string, len(f))
	for i, m := range f {
		out[i] = m.Name
	}
	return out
}

// Read reads an object, or null (which leaves dst unchanged), into dst.
func (f Fields[T]) Read(d *Decoder, dst *T) {
	if d.Null() || !d.Object() {
		return
	}
	f.Members(d, dst)
}

// Members reads the members of an object whose '{' was consumed.
func (f Fields[T]) Members(d *Decoder, dst *T) {
	if len(f) > 32 {
		d.Fail()
		return
	}
	var seen uint32
	var started bool
	for {
		k, more := d.Member(&started)
		if !more {
			return
		}
		i := f.index(k)
		if i < 0 {
			f.unknown(d, k)
			continue
		}
		if seen&(1<<i) != 0 {
			d.Fail()
			return
		}
		seen |= 1 << i
		f[i].Read(d, dst)
	}
}

func (f Fields[T]) index(k []byte) int {
	for i := range f {
		if string(k) == f[i].Name {
			return i
		}
	}
	return -1
}

// unknown skips the value of a key that is no member, unless it matches
// one case-insensitively.
func (f Fields[T]) unknown(d *Decoder, key []byte) {
	for i := range f {
		if bytes.EqualFold(key, []byte(f[i].Name)) {
			d.Fail()
			return
		}
	}
	d.Skip()
}

// ReadString reads a string into dst; null leaves it unchanged and any
// other value fails the Decoder, as json.Unmarshal into a string field.
func ReadString[S ~string](d *Decoder, dst *S) {
	if d.Null() {
		return
	}
	if d.Peek() != '"' {
		d.Fail()
		return
	}
	*dst = S(d.String())
}
