package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/pod"
	"github.com/orkspace/orkestra-gateway/internal/server"
)

// The help of `ork gateway`, the same in both builds.
const (
	gatewayShort = "Run the Orkestra Gateway (inside a Kubernetes pod only)"
	gatewayLong  = `Run the Orkestra Gateway: admission and conversion webhooks, self-managed TLS
and the /notify endpoint, configured by a Katalog. It refuses to start outside
a Kubernetes pod; use "ork gateway eval" to try a Katalog locally.

Every flag can also be set by its environment variable (the flag wins).`
	gatewayExample = `  ork gateway -f /etc/orkestra/katalog.yaml
  ork gateway -f katalog.yaml --sync-interval 30s --log-format text
  ork gateway -f katalog.yaml --pprof-address 127.0.0.1:6060   # then: kubectl port-forward POD 6060`
)

// runGateway runs `ork gateway` with its parsed flags (server.AddFlags)
// until SIGTERM or an interrupt.
func runGateway(flags *pflag.FlagSet) error {
	// The guard comes before anything else is read.
	if err := pod.Guard(); err != nil {
		return exitError{code: exitFailure, err: err}
	}
	cfg, err := server.Resolve(flags, nil)
	if err != nil {
		return exitError{code: exitUsage, err: err}
	}
	cfg.Build = buildinfo.Read(version, commit)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = server.Run(ctx, cfg, cfg.Logger(os.Stderr), os.Stderr)
	if errors.Is(err, server.ErrInvalidKatalog) {
		return exitError{code: exitFailure, err: err}
	}
	return err
}
