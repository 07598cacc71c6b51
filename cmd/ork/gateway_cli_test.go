//go:build !gateway

package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The command line of the gateway build, through the built binary: help,
// usage errors, flag values, the --katalog alias and exit codes. The golden
// files were recorded from the cobra-based command line the gateway build
// had before it got its own parser; the two must not differ.
func TestGatewayCommandLine(t *testing.T) {
	bin := gateway(t)
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // the guard's message names what is missing
	for _, args := range [][]string{
		{},
		{"--help"},
		{"-h"},
		{"help"},
		{"help", "gateway"},
		{"help", "version"},
		{"help", "help"},
		{"help", "nope"},
		{"-h", "gateway"},
		{"-"},
		{"--"},
		{"--", "gateway"},
		{"-h", "-"},
		{"--help=false"},
		{"--help=false", "gateway", "--help"},
		{"--help=false", "nope"},
		{"gateway", "--help"},
		{"gateway", "-h"},
		{"gateway", "-f", "k.yaml", "--help"},
		{"version", "--help"},
		{"version", "-h"},
		{"version", "-o", "xml"},
		{"version", "--output=xml"},
		{"version", "now"},
		{"version", "-o", "json", "now"},
		{"version", "--bogus"},
		{"version", "-o"},
		{"version", "help"},
		{"frobnicate"},
		{"gatway"},
		{"versio"},
		{"completion"},
		{"--bogus"},
		{"--bogus", "gateway"},
		{"gateway", "--bogus"},
		{"gateway", "-x"},
		{"gateway", "extra"},
		{"gateway", "-f", "k.yaml", "extra"},
		{"gateway", "help"},
		{"gateway", "--help", "--bogus"},
		{"gateway", "-f"},
		{"gateway", "--katalog"},
		{"gateway", "--sync-interval", "soon"},
		{"gateway", "--sync-interval=soon"},
		{"gateway", "--drain-timeout", "-1s"},
		{"gateway", "--trust-grace", "1x"},
		{"gateway", "--probe-port", "99999"},
		{"gateway", "--webhook-port", "http"},
		{"gateway", "--notify-port", "0"},
		{"gateway", "--pprof-allow-remote=maybe"},
		{"gateway", "--log-level"},
		// Outside a pod every valid command line stops at the guard, exit 1,
		// before the Katalog or any other value is read.
		{"gateway"},
		{"gateway", "-f", "/nope/katalog.yaml"},
		{"gateway", "--katalog", "/nope/katalog.yaml"},
		{"gateway", "--katalog=/nope/katalog.yaml", "--sync-interval", "1d", "--pprof-allow-remote", "--log-level", "bogus"},
		{"gateway", "--file", "k.yaml", "--webhook-port", "9443", "--notify-port=9444", "--probe-port", "9080", "--trust-grace", "0s", "--drain-timeout", "5s", "--log-format", "text", "--pprof-address", "127.0.0.1:6060"},
	} {
		name := strings.Join(args, "_")
		if name == "" {
			name = "no-args"
		}
		name = regexp.MustCompile(`[^A-Za-z0-9_.=-]+`).ReplaceAllString(name, "")
		t.Run(name, func(t *testing.T) {
			r := runBin(t, bin, t.TempDir(), args...)
			golden(t, filepath.Join("gateway-cli", name+".golden"), transcript(args, r))
		})
	}
}
