package bench

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The floor is the least an admission or conversion webhook can do: read
// the review, decode it with encoding/json into the API types, and answer.
// The gateway's figures are ratios against it, measured in the same run on
// the same machine, over the same TLS set-up.

// maxFloorBody bounds a review body, like the gateway's limits.
const maxFloorBody = 64 << 20

// FloorMux serves the floor at the gateway's paths: /validate,
// /deletion-protection (and every other admission path) allow; /convert
// is the identity conversion.
// GET /count answers how many AdmissionReviews it has answered, so that the
// harness can tell when the API server has started calling it.
func FloorMux() *http.ServeMux {
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/convert", floorConvert)
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strconv.FormatInt(n.Load(), 10)))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		floorAdmit(w, r)
	})
	return mux
}

// floorAdmit decodes the AdmissionReview and allows.
func floorAdmit(w http.ResponseWriter, r *http.Request) {
	body, ok := readFloorBody(w, r)
	if !ok {
		return
	}
	resp, err := FloorAdmit(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, resp)
}

// FloorAdmit answers an AdmissionReview: allowed, with the request's UID.
func FloorAdmit(body []byte) ([]byte, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if review.Request == nil {
		return nil, errors.New("AdmissionReview has no request")
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: review.TypeMeta,
		Response: &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true},
	})
}

// floorConvert is the identity conversion: every object decoded and
// re-encoded with the desired apiVersion, which is all a conversion that
// changes nothing else has to do.
func floorConvert(w http.ResponseWriter, r *http.Request) {
	body, ok := readFloorBody(w, r)
	if !ok {
		return
	}
	resp, err := FloorConvert(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, resp)
}

// FloorConvert answers a ConversionReview with the identity conversion.
func FloorConvert(body []byte) ([]byte, error) {
	var review apiextv1.ConversionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("malformed ConversionReview: %w", err)
	}
	req := review.Request
	if req == nil {
		return nil, errors.New("ConversionReview has no request")
	}
	out := make([]runtime.RawExtension, len(req.Objects))
	for i, o := range req.Objects {
		var obj map[string]any
		if err := json.Unmarshal(o.Raw, &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("object %d is not a JSON object", i)
		}
		obj["apiVersion"] = req.DesiredAPIVersion
		raw, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		out[i].Raw = raw
	}
	return json.Marshal(apiextv1.ConversionReview{
		TypeMeta: review.TypeMeta,
		Response: &apiextv1.ConversionResponse{
			UID:              req.UID,
			ConvertedObjects: out,
			Result:           metav1.Status{Status: metav1.StatusSuccess},
		},
	})
}

func readFloorBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= maxFloorBody {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxFloorBody)); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return buf.Bytes(), true
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// WebhookServer is an http.Server set up as the gateway's webhook listener
// (internal/server): the same timeouts and header limit, so the floor and
// the gateway differ only in their handlers. Serve it with ServeTLS(ln, "", "").
func WebhookServer(h http.Handler, tlsConfig *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
