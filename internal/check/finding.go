// Package check is the one pass over a loaded Katalog: the 22 checks of the
// spec, producing findings and, when there is no error, the compiled policy.
// `ork validate` and `ork gateway` start-up both run it.
package check

import (
	"fmt"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Severity says whether a finding fails the Katalog (Error) or only
// reports (Warning).
type Severity string

// The severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one problem in a Katalog.
type Finding struct {
	File     string      `json:"file"`
	Pos      katalog.Pos `json:"pos"`
	ID       string      `json:"id"`   // K01..K22
	Name     string      `json:"name"` // short check name, e.g. duplicate-plural
	Severity Severity    `json:"severity"`
	Field    string      `json:"field,omitempty"` // field path
	Message  string      `json:"message"`
	Hint     string      `json:"hint,omitempty"`
}

// String formats f as `ork validate` prints it:
// file:line:col: severity ID name: message (hint).
func (f Finding) String() string {
	s := fmt.Sprintf("%s:%d:%d: %s %s %s: %s", f.File, f.Pos.Line, f.Pos.Column, f.Severity, f.ID, f.Name, f.Message)
	if f.Hint != "" {
		s += " (" + f.Hint + ")"
	}
	return s
}
