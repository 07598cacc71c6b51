//go:build !gateway

package main

import (
	"github.com/orkspace/orkestra-gateway/internal/celeval"
	"github.com/orkspace/orkestra-gateway/internal/check"
)

// The toolchain type-checks the CEL of expression rules in every check
// pass (validate, eval, generate bundle); the gateway build links no CEL.
func init() { check.CEL = &celeval.Checker{} }
