package conversion

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// The preserved-fields annotation is written by the gateway and read back by
// the gateway, but it travels through clients: anyone who may update an
// object at some version can put any value in it. So the value is sealed:
//
//	{"mac":"<base64url HMAC-SHA256>","stack":[...the entries...]}
//
// The MAC covers the stack exactly as written and the object it belongs to
// (group, kind, namespace, name), under a key every replica shares and no
// client knows (the conversion key of the gateway's TLS Secret). A value
// that does not parse, carries no MAC or a wrong one, or was copied from
// another object is ignored as a whole: nothing of it is restored.

// MinKeyBytes is the shortest key Options.Key may return.
const MinKeyBytes = 32

// macLabel separates this MAC from any other use of the key.
const macLabel = "orkestra-gateway conversion preserved-fields v1"

// sealOverhead is what the seal adds to the encoded stack, in bytes.
var sealOverhead = len(`{"mac":"`) + base64.RawURLEncoding.EncodedLen(sha256.Size) + len(`","stack":`) + len(`}`)

// Reasons an annotation is ignored, the "reason" label of
// orkestra_gateway_conversion_preserved_invalid_total.
const (
	reasonMalformed       = "malformed"       // not a sealed annotation at all
	reasonUnauthenticated = "unauthenticated" // no MAC, a wrong MAC, or another object's
	reasonOutOfScope      = "out-of-scope"    // authenticated, but names fields the conversion does not drop
)

// identity is what a sealed annotation is bound to.
type identity struct {
	group, kind, namespace, name string
}

// identityOf is the identity of obj, a custom resource of the plan's kind.
func (pl *plan) identityOf(obj map[string]any) identity {
	meta, _ := obj["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	return identity{group: pl.group, kind: pl.kind, namespace: ns, name: name}
}

// mac is the MAC of an encoded stack for id under key.
func mac(key []byte, id identity, stack []byte) []byte {
	h := hmac.New(sha256.New, key)
	b := make([]byte, 0, len(macLabel)+1+4*binary.MaxVarintLen64+len(id.group)+len(id.kind)+len(id.namespace)+len(id.name))
	b = append(b, macLabel...)
	b = append(b, 0)
	for _, s := range []string{id.group, id.kind, id.namespace, id.name} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	h.Write(b)
	h.Write(stack)
	return h.Sum(nil)
}

// seal is the annotation value holding an encoded stack.
func seal(key []byte, id identity, stack []byte) []byte {
	m := base64.RawURLEncoding.EncodeToString(mac(key, id, stack))
	out := make([]byte, 0, len(stack)+sealOverhead)
	out = append(out, `{"mac":"`...)
	out = append(out, m...)
	out = append(out, `","stack":`...)
	out = append(out, stack...)
	return append(out, '}')
}

// sealed is the wire form of a sealed annotation.
type sealed struct {
	MAC   *string         `json:"mac"`
	Stack json.RawMessage `json:"stack"`
}

// unsealError says why an annotation is ignored.
type unsealError struct {
	reason string
	err    error
}

func (e *unsealError) Error() string { return e.err.Error() }

// unseal checks an annotation value against key and id and decodes its
// stack. The error is an *unsealError.
func unseal(value string, key []byte, id identity) ([]entry, error) {
	malformed := func(format string, args ...any) error {
		return &unsealError{reasonMalformed, fmt.Errorf(format, args...)}
	}
	trimmed := bytes.TrimSpace([]byte(value))
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, &unsealError{reasonUnauthenticated, errors.New("the value is a bare stack without a MAC; only the gateway writes this annotation")}
	}
	var w sealed
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, malformed("the value is not a sealed stack: %v", err)
	}
	if dec.More() {
		return nil, malformed("unexpected data after the sealed stack")
	}
	if w.MAC == nil || len(w.Stack) == 0 {
		return nil, malformed(`the value lacks "mac" or "stack"`)
	}
	got, err := base64.RawURLEncoding.DecodeString(*w.MAC)
	if err != nil || len(got) != sha256.Size {
		return nil, &unsealError{reasonUnauthenticated, fmt.Errorf("the MAC is not %d bytes of unpadded base64url", sha256.Size)}
	}
	if !hmac.Equal(got, mac(key, id, w.Stack)) {
		return nil, &unsealError{reasonUnauthenticated, errors.New("the MAC does not match: the value was not written by this gateway for this object")}
	}
	stack, err := decodeStack(string(w.Stack))
	if err != nil { // authenticated, so written by a gateway: cannot happen
		return nil, malformed("the authenticated stack does not decode: %v", err)
	}
	return stack, nil
}

// randomKey is the key of a Converter built without Options.Key: its
// annotations verify in this process only.
func randomKey() ([]byte, error) {
	k := make([]byte, MinKeyBytes)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generating a conversion key: %w", err)
	}
	return k, nil
}
