//go:build tools

// Package mailpit pins the mailpit build used as the real SMTP server in the
// notification tests. It is a separate module so the project's go.mod never
// depends on mailpit.
package mailpit

import (
	_ "github.com/axllent/mailpit"
)
