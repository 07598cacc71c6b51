package conversion

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// DefaultMaxBodyBytes bounds a ConversionReview body. The API server sends
// a whole list in one review: a page of a paginated list (kubectl asks for
// 500 objects at a time) of objects of a few KiB is a few MiB; 16 MiB holds
// 500 objects of 32 KiB. Converting holds the body (objects are slices of
// it), the converted objects and one decoded object at a time; the answer
// is written in pieces. A 15 MiB review takes the gateway from 24 to 85-91
// MiB of RSS under the bundle's GOMEMLIMIT (e2e hostile corpus), and the
// webhook listener's budget lets only one such review in at a time.
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
	return webhook.New(string(webhook.Convert), webhook.Review[*request]{
		Kind:   reviewKind,
		Decode: decodeReview,
		Answer: func(_ context.Context, req *request) (net.Buffers, error) {
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

// encodeResponse encodes the ConversionReview answering with resp, in
// pieces: the converted objects are written as they are, neither parsed
// and compacted again (as encoding/json would) nor copied into one buffer.
func encodeResponse(resp *apiextv1.ConversionResponse) (net.Buffers, error) {
	uid, err := json.Marshal(resp.UID)
	if err != nil {
		return nil, err
	}
	result, err := json.Marshal(resp.Result)
	if err != nil {
		return nil, err
	}
	head := append([]byte(`{"apiVersion":"`+reviewAPIVersion+`","kind":"`+reviewKind+`","response":{"uid":`), uid...)
	head = append(head, `,"convertedObjects":`...)
	out := make(net.Buffers, 0, 2*len(resp.ConvertedObjects)+3)
	if resp.ConvertedObjects == nil {
		out = append(out, append(head, "null"...))
	} else {
		out = append(out, append(head, '['))
		for i, o := range resp.ConvertedObjects {
			if i > 0 {
				out = append(out, comma)
			}
			out = append(out, o.Raw)
		}
		out = append(out, closeList)
	}
	tail := append([]byte(`,"result":`), result...)
	return append(out, append(tail, "}}"...)), nil
}

var (
	comma     = []byte{','}
	closeList = []byte{']'}
)
