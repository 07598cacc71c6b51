// Package webhook is the HTTP envelope every webhook of the gateway shares,
// whatever review it carries (admission.k8s.io AdmissionReview,
// apiextensions.k8s.io ConversionReview): POST only (405 with Allow),
// application/json in UTF-8 only (415), a body limit (413), body buffers
// that grow with the bytes received (never sized from Content-Length), a
// budget of body bytes in flight on the whole listener (503 with
// Retry-After beyond it), panic recovery (500, logged, counted), one
// rate-limited log line per malformed request, and the request metrics.
//
// A review type supplies only what differs (Review): how a body is decoded
// into its request and how a request is answered. New joins the two into
// the http.Handler of one path; every path of one listener shares a
// Listener, which holds the budget, the bad-request log limiter and the
// listener's metrics.
//
// Memory: a request holds at most the capacity of its body buffer, charged
// to the Listener before the buffer grows. Announcing a large body costs
// nothing (a Content-Length above the limit is refused before reading; a
// declared length that would not fit the free budget is refused with 503
// before reading); only bytes actually received are ever buffered.
package webhook
