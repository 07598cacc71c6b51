//go:build !gateway

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// buildName names this build in `ork version`.
const buildName = "toolchain"

// toolchainCommands are the commands only the toolchain build has.
func toolchainCommands() []*cobra.Command {
	return []*cobra.Command{newValidateCmd(), newGenerateCmd(), newCompletionCmd(), newTestCmd(), newAuditCmd()}
}

const rootExample = `  ork validate -f katalog.yaml
  ork gateway eval -f katalog.yaml --object website.yaml
  ork test .
  ork audit -f katalog.yaml -A
  ork generate bundle --for gateway -f katalog.yaml -o deploy/
  ork completion bash > /etc/bash_completion.d/ork
  ork version -o json`

// usageError reports bad input the user must fix on the command line.
func usageError(format string, a ...any) error {
	return exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}
