// Command ork is the Orkestra Gateway CLI. It has two builds: the toolchain
// (`go build ./cmd/ork`: validate, generate, gateway, test, audit, version,
// a cobra command tree in files tagged !gateway) and the gateway image (`go
// build -tags gateway ./cmd/ork`: gateway and version only, parsed by a
// small command line of its own, cli_gateway.go, which links no template
// engine). The commands both builds share (gateway.go, version.go), that
// parser (tested in both) and this file carry no build tag; each build
// defines run (root.go, main_gateway.go).
package main

import (
	"errors"
	"os"
)

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found a problem (invalid Katalog, runtime error)
	exitUsage   = 2 // bad flags, arguments or input files
)

// The help of `ork` itself; rootExample lists the commands of each build.
const (
	rootShort = "Orkestra Gateway: admission, conversion and notifications from a Katalog"
	rootLong  = `ork is the Orkestra Gateway command line. The gateway is a stateless
Kubernetes admission and conversion webhook server and notification relay,
configured by a YAML Katalog.`
)

// errReported marks a failure whose details the command already printed;
// main exits with its code and prints nothing more.
var errReported = errors.New("failure already reported")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries a process exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
