// Package rules compiles the Katalog's validation and mutation rules once and
// evaluates them against admission objects. It is pure: no I/O, no clock.
package rules

import (
	"text/template"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Problem is a compile error in one rule. Path is relative to the rule list
// ("[2].regex", "[0].when[1].between") so the check pass can position it.
type Problem struct {
	Check string // K08 (rule shape), K09 (values), K10 (templates), K11 (mutation)
	Path  string
	Msg   string
	Hint  string
}

// Input is what a rule set is evaluated against.
type Input struct {
	Object    map[string]any // the object under admission (decoded JSON)
	OldObject map[string]any // nil on CREATE
	Operation string         // CREATE, UPDATE, DELETE, CONNECT
}

// Result is one failed rule.
type Result struct {
	Field   string // resolved field path, e.g. spec.containers[0].image
	Message string // rendered message
	Warn    bool   // action: warn
	Value   any    // the offending value (nil when absent)
}

// ValidationSet is a compiled, ordered list of validation rules.
type ValidationSet struct {
	// TODO(rules): compiled rules
}

// CompileValidation compiles rules; it returns every problem found.
func CompileValidation(rs []katalog.Rule) (*ValidationSet, []Problem) {
	panic("rules: not implemented")
}

// Evaluate runs every rule (not first-failure) and returns the failures in rule order.
func (s *ValidationSet) Evaluate(in Input) []Result {
	panic("rules: not implemented")
}

// PatchOp is one RFC 6902 JSONPatch operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// MutationSet is a compiled, ordered list of mutation rules.
type MutationSet struct {
	// TODO(rules): compiled rules
}

// CompileMutation compiles mutation rules; it returns every problem found.
func CompileMutation(rs []katalog.MutationRule) (*MutationSet, []Problem) {
	panic("rules: not implemented")
}

// Patch returns the JSONPatch that applies the rules to in.Object, creating
// missing parents and omitting no-ops. It does not modify in.Object.
func (s *MutationSet) Patch(in Input) ([]PatchOp, error) {
	panic("rules: not implemented")
}

// ParseTemplate parses a template with the allowed function set (K10).
func ParseTemplate(name, text string) (*template.Template, error) {
	panic("rules: not implemented")
}
