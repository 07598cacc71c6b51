//go:build tools

// Package testenv pins the kube-apiserver and etcd builds used by the tests
// and the demo. It is a separate module so the project's go.mod never
// depends on k8s.io/kubernetes.
package testenv

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
