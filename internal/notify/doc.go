// Package notify is the gateway's notification relay (spec section 8): the
// Orkestra Runtime, or any caller listed in notification.allowedCallers,
// POSTs events to /notify on a TLS listener of their own; the relay
// authenticates the caller with a TokenReview, renders the team's message,
// throttles per event key, and delivers to Slack and email from one bounded
// queue per destination, with retries.
//
// Lifecycle, as wired by package server:
//
//	n, err := notify.NewServer(notify.Options{
//		Policy:     pol.Notification, // nil: every request is answered 404
//		Reviewer:   notify.NewTokenReviewer(dynamicClient),
//		Logger:     log,
//		Registerer: registry,
//	})
//	n.Start()                                   // delivery workers
//	srv := n.HTTPServer(holder.TLSConfig())     // its own limits and timeouts
//	go srv.ServeTLS(listener, "", "")
//	...
//	n.Drain(ctx)     // SIGTERM: 503 to new events, deliver the queue until ctx ends
//	srv.Shutdown(ctx)
//
// Nothing here runs on the admission path: the TokenReview, Slack and SMTP
// calls happen on the notify listener and the delivery workers only.
package notify
