//go:build gateway

package main

import "io"

// buildName names this build in `ork version`.
const buildName = "gateway"

const rootExample = `  ork gateway -f /etc/orkestra/katalog.yaml
  ork version -o json`

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return commandLine(gatewayCommands).run(args, stdout, stderr)
}
