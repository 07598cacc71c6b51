package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/pod"
	"github.com/orkspace/orkestra-gateway/internal/server"
)

// gatewaySubcommands are added under `ork gateway` by toolchain-only files
// (eval, convert); the gateway build has none.
var gatewaySubcommands []func() *cobra.Command

func newGatewayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the Orkestra Gateway (inside a Kubernetes pod only)",
		Long: `Run the Orkestra Gateway: admission and conversion webhooks, self-managed TLS
and the /notify endpoint, configured by a Katalog. It refuses to start outside
a Kubernetes pod; use "ork gateway eval" to try a Katalog locally.

Every flag can also be set by its environment variable (the flag wins).`,
		Example: `  ork gateway -f /etc/orkestra/katalog.yaml
  ork gateway -f katalog.yaml --sync-interval 30s --log-format text
  ork gateway -f katalog.yaml --pprof-address 127.0.0.1:6060   # then: kubectl port-forward POD 6060`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The guard comes before anything else is read.
			if err := pod.Guard(); err != nil {
				return exitError{code: 1, err: err}
			}
			cfg, err := server.Resolve(cmd.Flags(), nil)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			cfg.Build = buildinfo.Read(version, commit)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			err = server.Run(ctx, cfg, cfg.Logger(os.Stderr), os.Stderr)
			if errors.Is(err, server.ErrInvalidKatalog) {
				return exitError{code: 1, err: err}
			}
			return err
		},
	}
	server.AddFlags(cmd.Flags())
	for _, sub := range gatewaySubcommands {
		cmd.AddCommand(sub())
	}
	return cmd
}

// exitError carries a process exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
