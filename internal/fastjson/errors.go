package fastjson

import (
	"encoding/json"
	"errors"
	"fmt"
)

// UnmarshalError words the error of encoding/json's decoding of a document
// called what ("AdmissionReview"), the path a body takes when the fast one
// gives up: where a syntax error is, which field has a value of the wrong
// type.
func UnmarshalError(what string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed %s: %v at byte %d", what, syn, syn.Offset) // Offset counts the bad byte
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(root)"
		}
		return fmt.Errorf("malformed %s: field %s: cannot use JSON %s as %s at byte %d", what, field, typ.Value, typ.Type, typ.Offset)
	default:
		return fmt.Errorf("malformed %s: %v", what, err)
	}
}
