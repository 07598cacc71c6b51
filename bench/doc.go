// Package bench is the benchmark harness (`make bench`): the
// floor servers the gateway is compared with, the load generator, the
// requests, the statistics and the report. The program that runs it all
// against a real control plane is bench/cmd/bench; it writes
// bench/results.json and docs/benchmarks.md.
//
// It is a dev tool: nothing in the gateway build imports it.
package bench
