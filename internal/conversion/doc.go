// Package conversion serves the gateway's CRD conversion webhook: it
// converts custom resources between the versions a Katalog CRD entry
// declares, from the entry's conversion block alone (no code).
//
// A Converter (New) compiles every conversion block once; it is the
// http.Handler of /convert and the code path of `ork gateway convert`.
// Pointing a CRD's spec.conversion at the gateway is package registration's
// (it owns every object the API server holds for the gateway): this package
// never talks to the API server.
//
// # Routes
//
// An object is converted directly when a path from its version to the
// desired one is declared; otherwise it goes through the storage version
// (A -> storage -> B), each step a declared path or, where none is
// declared, the identity (apiVersion only).
//
// # One step
//
// The result starts as a copy of the source: metadata, status and every
// spec field are carried over, and apiVersion is set. Then:
//
//  1. spec fields that a template of the path reads are removed (moved),
//     with the parents their removal leaves empty;
//  2. each target field of the mapping is set: a static value as written;
//     a template rendered against the source object. A template that is a
//     single action ({{ .spec.size }}, {{ .spec.x | default 3 }}) keeps the
//     type of its value (numbers, booleans, lists, objects); one that mixes
//     text and actions gives a string. A rendered value is then converted to
//     the type the target version's schema declares (a number into a string
//     field, "3" into an integer field) when the CRD file is known; a
//     template that reads a missing field sets nothing;
//  3. the result is pruned with the target version's structural schema
//     exactly as the API server would prune it.
//
// # Lossless round trips
//
// A conversion A -> B also runs B -> A on its result; whatever that does
// not give back (moved fields the reverse mapping does not rebuild, fields
// B's schema has no place for, fields the reverse mapping adds) is kept in
// the PreservedAnnotation on the result, and restored by the conversion
// B -> A, so A -> B -> A returns the original object exactly, through
// chains too. The annotation is bounded (Options.MaxPreservedBytes); what
// does not fit is dropped with a warning and a metric, never an error.
// The annotation is sealed (an HMAC over it and the object's identity,
// Options.Key) and restores only what the conversion between its two
// versions drops, never apiVersion, kind or metadata: a forged, edited or
// copied one is ignored, logged and counted.
//
// Handlers decide from the request alone: no API server call, no HTTP and
// no DNS while answering a ConversionReview.
package conversion
