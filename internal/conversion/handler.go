package conversion

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// DefaultMaxBodyBytes bounds a ConversionReview body. The API server sends
// a whole list in one review (a list of a few thousand objects is tens of
// MiB), so the bound is wider than an AdmissionReview's.
const DefaultMaxBodyBytes = 64 << 20

// ServeHTTP answers a ConversionReview (POST, application/json). A
// malformed request gets a 4xx with the reason and no review: the API
// server reports it as a webhook failure. A well-formed review always gets
// 200 and a response, Success with every object converted or Failure with
// the reason.
func (c *Converter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, msg := c.serve(w, r)
	if code == http.StatusOK {
		return
	}
	if code != http.StatusInternalServerError {
		c.m.reviews.WithLabelValues(resultBadRequest).Inc()
		c.log.Warn("bad conversion request", "code", code, "error", msg)
	}
	http.Error(w, msg, code)
}

// serve writes a 200 answer, or returns the error status and message for
// the caller to write.
func (c *Converter) serve(w http.ResponseWriter, r *http.Request) (code int, msg string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; a ConversionReview is sent with POST", r.Method)
	}
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		return http.StatusUnsupportedMediaType, msg
	}
	body, code, msg := readBody(w, r, c.maxBody)
	if code != 0 {
		return code, msg
	}
	req, err := decodeReview(body)
	if err != nil {
		return http.StatusBadRequest, err.Error()
	}
	resp, panicked := c.safeReview(req)
	if panicked != nil {
		c.m.reviews.WithLabelValues(resultError).Inc()
		c.log.Error("conversion panicked", "uid", string(req.UID), "panic", fmt.Sprint(panicked), "stack", string(debug.Stack()))
		return http.StatusInternalServerError, fmt.Sprintf("conversion of request %s failed: internal error", req.UID)
	}
	out, err := encodeResponse(resp)
	if err != nil { // a UID and a Status always encode: cannot happen
		c.log.Error("cannot encode ConversionReview response", "error", err.Error())
		return http.StatusInternalServerError, "cannot encode response: " + err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return http.StatusOK, ""
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

// safeReview runs review, turning a panic into a value.
func (c *Converter) safeReview(req *request) (resp *apiextv1.ConversionResponse, panicked any) {
	defer func() {
		if v := recover(); v != nil {
			resp, panicked = nil, v
		}
	}()
	return c.review(req), nil
}

func checkContentType(ct string) string {
	if ct == "" {
		return "missing Content-Type; a ConversionReview must be sent as application/json"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("malformed Content-Type %q: %v", ct, err)
	}
	if mt != "application/json" {
		return fmt.Sprintf("unsupported Content-Type %q; a ConversionReview must be sent as application/json", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("unsupported charset %q; JSON must be UTF-8", cs)
	}
	return ""
}

// readBody reads at most limit bytes; code is non-zero on failure.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, code int, msg string) {
	tooLarge := fmt.Sprintf("ConversionReview larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, http.StatusBadRequest, "cannot read body: " + err.Error()
	}
	if buf.Len() == 0 {
		return nil, http.StatusBadRequest, "empty body; expected an apiextensions.k8s.io/v1 ConversionReview"
	}
	return buf.Bytes(), 0, ""
}
