// Package install holds the tests of the gateway's install paths that need
// Helm and kustomize: the chart of `ork generate bundle --format helm` is
// rendered with Helm's own engine and the kustomization of `-o DIR` is
// built with kustomize's krusty, and each result is applied to a real API
// server (server-side apply) where the gateway then runs under exactly the
// RBAC it installed. A module of its own, so the project's module depends
// on neither Helm nor kustomize.
package install
