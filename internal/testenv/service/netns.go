// Package service runs replicas of a program behind a real Service of the
// test control plane, the way a Deployment runs behind one: a Service
// without selector whose EndpointSlices the harness maintains as the
// endpoints controller would (an endpoint is ready while the replica's
// readiness probe answers 200, terminating while it stops, gone once it
// has stopped). The API server (started with --enable-aggregator-routing)
// then resolves the Service to those endpoints itself, so webhook calls
// reach the replicas through Kubernetes' own routing.
//
// The API server refuses loopback addresses in EndpointSlices, so the test
// package runs in a private network namespace whose lo carries one address
// per replica (Address). Main sets it up:
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) { service.Main(m, &env, 6) }
//
// Everything the tests start (etcd, kube-apiserver, the replicas, fakes)
// then runs inside that namespace. It needs root, unshare(1) and ip(8).
//
// Test support only, like package testenv.
package service

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// netnsEnv marks the re-executed test binary; its value is the network
// namespace the binary left, so the child can check it is elsewhere.
const netnsEnv = "ORK_TESTENV_NETNS_FROM"

// addressBase is the first replica address: 10.77.0.11, .12, ...
const addressBase = 11

// maxAddresses bounds Main's address count.
const maxAddresses = 100

// Address is the i-th replica address (0-based) on lo.
func Address(i int) string { return fmt.Sprintf("10.77.0.%d", addressBase+i) }

// Main is the whole TestMain of a package whose tests run replicas behind a
// Service: it runs the package in a private network and mount namespace
// with addresses Address(0)..Address(n-1) on lo, starts a control plane
// there (testenv.Main) and exits with the tests' code.
//
// Namespaces belong to threads and a Go program has many, so it does not
// unshare itself: it re-executes the test binary (same arguments, same
// process: go test's timeout still applies) under unshare(1), which
// creates the namespaces while single-threaded, and the new binary sets up
// lo. A missing tool or privilege fails every test, with the reason.
func Main(m *testing.M, env **testenv.Env, n int) {
	if err := enter(n); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: service mode: %v\n", err)
		os.Exit(1)
	}
	testenv.Main(m, env)
}

// enter re-executes the binary in new namespaces (and does not return) or,
// in the re-executed binary, checks the namespace and sets up lo.
func enter(n int) error {
	if n < 1 || n > maxAddresses {
		return fmt.Errorf("%d addresses: want 1 to %d", n, maxAddresses)
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("reading this process's network namespace: %w", err)
	}
	from, inside := os.LookupEnv(netnsEnv)
	if !inside {
		return reexec(self)
	}
	if from == self {
		return fmt.Errorf("re-executed under unshare --net but still in network namespace %s", self)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("ip (iproute2) is needed to set up lo in the test's network namespace: %w", err)
	}
	cmds := [][]string{{"link", "set", "lo", "up"}}
	for i := range n {
		cmds = append(cmds, []string{"addr", "add", Address(i) + "/32", "dev", "lo"})
	}
	for _, c := range cmds {
		if out, err := exec.Command(ip, c...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	fmt.Fprintf(os.Stderr, "service mode: network namespace %s, lo up with %s..%s\n", self, Address(0), Address(n-1))
	return nil
}

// reexec replaces this process by `unshare --net --mount -- <this binary>
// <same arguments>`.
func reexec(netns string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("a private network namespace needs root (CI runs as root); running as uid %d", os.Geteuid())
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return fmt.Errorf("unshare (util-linux) is needed to run this package in a private network namespace: %w", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("ip (iproute2) is needed to set up lo in the test's network namespace: %w", err)
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{"unshare", "--net", "--mount", "--propagation", "private", "--", bin}, os.Args[1:]...)
	env := append(os.Environ(), netnsEnv+"="+netns)
	err = syscall.Exec(unshare, args, env)
	return errors.Join(errors.New("re-executing under unshare"), err)
}
