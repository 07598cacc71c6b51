// Package rules compiles the Katalog's validation and mutation rules once and
// evaluates them against admission objects. It is pure: no I/O, no clock.
// Everything that can be prepared is prepared at compile time (paths split,
// regexes and templates compiled, bounds parsed), so evaluating a rule that
// passes allocates nothing.
//
// # Field paths
//
// See [Path]: spec.containers[0].image, metadata.annotations["app.kubernetes.io/name"],
// spec.containers[*].image. A field containing "{{" is a template
// ([ParseTemplate]) rendered against the object and then parsed as a path.
// A template path that fails to render or renders to a malformed path names
// no field: in validation the field is treated as absent, in mutation Patch
// returns an error.
//
// [*] is every element of a list. A rule on such a path is evaluated once
// per element present and fails once per failing element, its Result
// naming the element (spec.containers[1].image); an absent, null, empty or
// non-list value has no element, so the rule holds whatever the operator
// (exists included). A condition on such a path holds when it holds for
// every element. A mutation on such a path sets the field in every element
// present.
//
// Conditions (when, or) may read the old object (oldObject.spec.x; absent
// without one) and the request (request.operation, request.userInfo.username,
// .uid, .groups, .extra); rules and mutations read the object only.
//
// # Template operands
//
// The operand of equals, contains, prefix, suffix, gt, gte, lt, lte and
// between (and their negations) may be a template rendered against the
// object per evaluation. A template that prints one field
// ({{ .spec.maxReplicas }}) gives the field's value with its type; any
// other gives its text, or a number when the text is one number. No value
// (missing or null field, blank rendering, render error) makes the rule
// hold as an absent field does; a bound that is not a number is a type
// mismatch. regex and in take no template: they are compiled once.
//
// # CEL rules
//
// A rule with expression: is CEL for the API server ([Expression]). It is
// compiled here for its shape only and never evaluated: the gateway links
// no CEL interpreter. [ValidationSet.Expressions] lists them for the native
// engine and for the toolchain (package celeval).
//
// # Tests
//
// A test is a field and exactly one operator, as a shorthand key
// (regex: "^a") or in long form (operator: regex, value: "^a"):
//
//	exists, notExists          true/false (no value means true); notExists: true = exists: false
//	equals, notEquals          deep equality; numbers compare by value (5 = 5.0), nothing else converts ("5" != 5)
//	contains, notContains      substring of a string, item of a list, key of a map
//	prefix, notPrefix, suffix, notSuffix, regex (Go RE2, unanchored)   on strings
//	gt, gte, lt, lte           on numbers; the bound may be a number or a numeric string
//	between, notBetween        inclusive; "lo,hi" or [lo, hi]
//	in, notIn                  equality with any item of a non-empty list
//	typeString, typeNumber, typeBool, typeList, typeMap, typeNull   true/false (no value means true)
//
// An absent field (missing, or below a missing or null parent) is decided
// only by exists and notExists. Every other operator leaves a rule with an
// absent field passing: requiring the field is the job of an exists rule,
// so "replicas between 1 and 10" does not also mean "replicas is required".
// A present value of the wrong type (gt on a string, regex on a number)
// fails the rule, and its message says so.
//
// # Rules
//
// A validation rule fails when its operator does not hold. when: (every
// condition holds) and or: (at least one holds) decide whether the rule is
// evaluated at all; with both, both must pass. In a condition an absent
// field makes exists false and notExists true, the negative operators
// (notEquals, notContains, notPrefix, notSuffix, notBetween, notIn) true and
// every other operator false: "when tier equals premium" does not hold for
// an object without a tier. A type mismatch in a condition is false.
//
// Every rule is evaluated, in order. action: deny (the default) or warn.
// Messages are templates rendered against the object; a render error or an
// empty rendering falls back to the message as written.
//
// # Mutation
//
// default sets a field when it is absent, null or an empty string, list or
// map; override always sets it. A rule that would not change the object
// emits nothing. Missing parents are created by a single add of the nested
// value (add /spec {"tier": "gold"}); a null parent is replaced the same way.
// Rules apply in order, each seeing what the previous ones set, and the
// result is RFC 6902 add/replace operations with RFC 6901 pointers.
//
// # The native engine
//
// ValidationSet.CEL and MutationSet.CELPatch compile the same rules to CEL
// text for ValidatingAdmissionPolicies and MutatingAdmissionPolicies
// (package registration builds those). This package writes CEL; it never
// evaluates it (the gateway links no CEL interpreter). NativeProblems says
// what the compiler cannot express: field paths that are templates, and
// message templates beyond text, field reads, if/else, not/and/or, index,
// len and the template functions.
package rules
