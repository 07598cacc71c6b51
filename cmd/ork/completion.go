//go:build !gateway

package main

import (
	"github.com/spf13/cobra"
)

// completionShells are the shells `ork completion` writes scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Completion prints a script that completes ork's commands and flags in the
given shell. Load it in the current shell, or install it once (see the
examples; the paths are the usual ones, your system may differ).`,
		Example: `  source <(ork completion bash)                         # bash, this shell
  ork completion bash > /etc/bash_completion.d/ork      # bash, every shell
  ork completion zsh > "${fpath[1]}/_ork"               # zsh
  ork completion fish > ~/.config/fish/completions/ork.fish
  ork completion powershell | Out-String | Invoke-Expression`,
		ValidArgs: completionShells,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("%q needs one shell: bash, zsh, fish or powershell", cmd.CommandPath())
			}
			return cobra.OnlyValidArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			default:
				return root.GenPowerShellCompletionWithDesc(w)
			}
		},
	}
}
