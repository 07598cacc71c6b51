//go:build !gateway

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/orkspace/orkestra-gateway/internal/server"
)

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return execute(newRootCmd(), args, stdout, stderr)
}

// execute runs root with args, prints the error if any and returns the exit code.
func execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code := exitUsage // errors cobra returns before a RunE starts are usage errors
	var ee exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errReported) {
		return code
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:     "ork",
		Short:   rootShort,
		Long:    rootLong,
		Example: rootExample,
		// main prints errors once, with a usage hint only for usage errors.
		SilenceErrors: true,
		SilenceUsage:  true,
		CompletionOptions: cobra.CompletionOptions{
			DisableDefaultCmd: true,
		},
	}
	root.SetUsageTemplate(usageTemplate)
	// -f/--file names the Katalog in every command; --katalog is accepted too.
	root.SetGlobalNormalizationFunc(server.KatalogAlias)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return exitError{code: exitUsage, err: err}
	})
	root.AddCommand(newGatewayCmd(), newVersionCmd())
	root.AddCommand(toolchainCommands()...)
	classifyRunErrors(root)
	return root
}

// classifyRunErrors wraps every RunE in the tree so that an error returned
// once a command runs exits 1 unless it carries its own code: cobra's errors
// (unknown flag or command, bad arguments) happen before and stay usage errors.
func classifyRunErrors(c *cobra.Command) {
	if runE := c.RunE; runE != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := runE(cmd, args)
			var ee exitError
			if err != nil && !errors.As(err, &ee) {
				err = exitError{code: exitFailure, err: err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		classifyRunErrors(sub)
	}
}

// usageTemplate is cobra's default without its special case that always
// lists the "help" command: `--help` and `ork help CMD` still work, and the
// command list shows exactly the commands of the build.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// gatewaySubcommands are added under `ork gateway` by toolchain-only files
// (eval, convert).
var gatewaySubcommands []func() *cobra.Command

func newGatewayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "gateway",
		Short:         gatewayShort,
		Long:          gatewayLong,
		Example:       gatewayExample,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGateway(cmd.Flags())
		},
	}
	server.AddFlags(cmd.Flags())
	for _, sub := range gatewaySubcommands {
		cmd.AddCommand(sub())
	}
	return cmd
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "version",
		Short:   versionShort,
		Example: versionExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or yaml")
	return cmd
}
