//go:build !gateway

package main

import (
	"errors"
	"slices"
	"strings"
)

// choice is a flag value restricted to a list, such as -o text|json|junit;
// a bad value is a flag error (exit 2).
type choice struct {
	value   string
	allowed []string
}

func newChoice(def string, allowed ...string) *choice { return &choice{value: def, allowed: allowed} }

func (c *choice) String() string { return c.value }
func (c *choice) Type() string   { return strings.Join(c.allowed, "|") }

func (c *choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return errors.New("must be " + orList(c.allowed))
	}
	c.value = s
	return nil
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
