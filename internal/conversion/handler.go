package conversion

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// DefaultMaxBodyBytes bounds a ConversionReview body. The API server sends
// a whole list in one review: a page of a paginated list (kubectl asks for
// 500 objects at a time) of objects of a few KiB is a few MiB; 16 MiB holds
// 500 objects of 32 KiB. Converting holds the body, the converted objects
// and one decoded object at a time, about 2.5 times the body at its peak,
// so one review at the bound fits the webhook listener's budget beside
// the admission reviews in flight.
const DefaultMaxBodyBytes = 16 << 20

// ServeHTTP answers a ConversionReview (POST, application/json) in the
// envelope every webhook shares (package webhook). A malformed request gets
// a 4xx with the reason and no review: the API server reports it as a
// webhook failure. A well-formed review always gets 200 and a response,
// Success with every object converted or Failure with the reason.
func (c *Converter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.handler.ServeHTTP(w, r)
}

// endpoint is the envelope of /convert around the Converter.
func (c *Converter) endpoint(l *webhook.Listener) http.Handler {
	return webhook.New(string(registration.Convert), webhook.Review[*request]{
		Kind:   reviewKind,
		Decode: decodeReview,
		Answer: func(_ context.Context, req *request) ([]byte, error) {
			out, err := encodeResponse(c.review(req))
			if err != nil { // a UID and a Status always encode: cannot happen
				return nil, fmt.Errorf("cannot encode the response to request %s: %w", req.UID, err)
			}
			return out, nil
		},
		UID: func(req *request) string { return string(req.UID) },
		Attrs: func(req *request) []any {
			return []any{"uid", string(req.UID), "desiredAPIVersion", req.DesiredAPIVersion, "objects", len(req.Objects)}
		},
	}, webhook.Options{MaxBodyBytes: c.maxBody, Listener: l, Logger: c.log, Metrics: c.m.envelope, OnFailure: c.m.failed})
}

// encodeResponse encodes the ConversionReview answering with resp. The
// converted objects are spliced in as they are: encoding/json would parse
// and compact every one of them again.
func encodeResponse(resp *apiextv1.ConversionResponse) ([]byte, error) {
	uid, err := json.Marshal(resp.UID)
	if err != nil {
		return nil, err
	}
	result, err := json.Marshal(resp.Result)
	if err != nil {
		return nil, err
	}
	n := len(uid) + len(result) + 128
	for _, o := range resp.ConvertedObjects {
		n += len(o.Raw) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"apiVersion":"`+reviewAPIVersion+`","kind":"`+reviewKind+`","response":{"uid":`...)
	b = append(b, uid...)
	b = append(b, `,"convertedObjects":`...)
	if resp.ConvertedObjects == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, o := range resp.ConvertedObjects {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, o.Raw...)
		}
		b = append(b, ']')
	}
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, "}}"...), nil
}
