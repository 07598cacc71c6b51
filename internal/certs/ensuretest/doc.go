// Package ensuretest tests certs.Ensure against a real kube-apiserver and
// etcd (internal/testenv). It is separate from package certs so that the
// unit and fuzz tests there run without a control plane.
package ensuretest
