//go:build tools

// Package tools pins the linters `make lint` runs with `go run`, so every
// machine lints with the same versions and the project's own module does
// not depend on them.
package tools

import (
	_ "golang.org/x/tools/cmd/goimports"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
