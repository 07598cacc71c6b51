//go:build gateway

package main

import "github.com/spf13/cobra"

// buildName names this build in `ork version`.
const buildName = "gateway"

// toolchainCommands is empty in the gateway image: it links no toolchain code.
func toolchainCommands() []*cobra.Command { return nil }

const rootExample = `  ork gateway -f /etc/orkestra/katalog.yaml
  ork version -o json`
