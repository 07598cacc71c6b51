//go:build !gateway

package main

import "github.com/spf13/cobra"

// buildName names this build in `ork version`.
const buildName = "toolchain"

// toolchainCommands are the commands only the toolchain build has.
func toolchainCommands() []*cobra.Command {
	return []*cobra.Command{newValidateCmd(), newGenerateCmd(), newTestCmd(), newAuditCmd()}
}
