// Package notify is the gateway's notification relay: the Orkestra Runtime,
// or any caller listed in notification.allowedCallers, POSTs events to
// /notify on a TLS listener of their own; the relay authenticates the
// caller with a TokenReview for the gateway's audience, renders the team's
// message, throttles per event key, and delivers to Slack and email from
// one bounded queue per destination, with retries.
//
// Lifecycle, as wired by package server:
//
//	reviews, _ := notify.ReviewClient(cluster, userAgent) // TokenReviews on a client of their own
//	n, err := notify.NewServer(notify.Options{
//		Policy:    pol.Notification, // nil: every request is answered 404
//		Namespace: podNamespace,      // for the default allowed caller
//		Reviewer:  notify.NewTokenReviewer(reviews),
//		Logger:    log,
//		Metrics:   metrics, // notify.NewMetrics(), built and registered once per process
//	})
//	n.Start()                                   // delivery workers
//	srv := n.HTTPServer(holder.TLSConfig())     // its own limits and timeouts
//	go srv.ServeTLS(n.Listener(listener), "", "") // connection caps
//	...
//	n.Drain(ctx)     // SIGTERM: 503 to new events, deliver the queue until ctx ends
//	srv.Shutdown(ctx)
//
// The files follow a request: limits.go (connection caps, per-address and
// per-caller buckets), auth.go (TokenReviews), handler.go (the HTTP
// envelope), event.go (decoding), render.go, accept.go (throttle and
// queueing), queue.go, slack.go and email.go (delivery).
//
// Nothing here runs on the admission path: the TokenReview, Slack and SMTP
// calls happen on the notify listener and the delivery workers only.
package notify
