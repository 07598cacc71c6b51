package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Test binaries are built once per test run, into a directory removed at
// the end. The toolchain binary carries link-time version values so the
// version test can see them.
const (
	testVersion = "v9.9.9-test"
	testCommit  = "0123456789abcdef"
)

var (
	binDir string

	toolchainOnce sync.Once
	toolchainBin  string
	toolchainErr  error

	gatewayOnce sync.Once
	gatewayBin  string
	gatewayErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "ork-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goBuild builds this package into binDir.
func goBuild(name string, args ...string) (string, error) {
	out := filepath.Join(binDir, name)
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), ".")...)
	cmd.Stderr = new(bytes.Buffer)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, cmd.Stderr)
	}
	return out, nil
}

// toolchain returns the path of the toolchain build of ork.
func toolchain(t *testing.T) string {
	t.Helper()
	toolchainOnce.Do(func() {
		toolchainBin, toolchainErr = goBuild("ork",
			"-ldflags", "-X main.version="+testVersion+" -X main.commit="+testCommit)
	})
	if toolchainErr != nil {
		t.Fatal(toolchainErr)
	}
	return toolchainBin
}

// gateway returns the path of the gateway build of ork.
func gateway(t *testing.T) string {
	t.Helper()
	gatewayOnce.Do(func() {
		gatewayBin, gatewayErr = goBuild("ork-gateway", "-tags", "gateway")
	})
	if gatewayErr != nil {
		t.Fatal(gatewayErr)
	}
	return gatewayBin
}

type result struct {
	stdout, stderr string
	code           int
}

// runBin runs bin with args in dir and returns its output and exit code.
func runBin(t *testing.T, bin, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s %v: %v", bin, args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// commandNames returns the names under "Available Commands:" in help output.
func commandNames(help string) []string {
	var names []string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			in = true
		case in && strings.HasPrefix(line, "  "):
			names = append(names, strings.Fields(line)[0])
		case in:
			return names
		}
	}
	return names
}
