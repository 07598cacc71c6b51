//go:build !gateway

package main

import "github.com/spf13/cobra"

// newGenerateCmd is the group for generators.
func newGenerateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "generate",
		Short:   "Generate artifacts from a Katalog",
		Example: `  ork generate bundle --for gateway -f katalog.yaml -o deploy/`,
		Args:    cobra.ArbitraryArgs,
		// Runnable so the group is listed before it has subcommands; run
		// without one, it is a usage error.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown generator %q for %q", args[0], cmd.CommandPath())
			}
			return usageError("%q needs a generator", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newGenerateBundleCmd())
	return cmd
}
