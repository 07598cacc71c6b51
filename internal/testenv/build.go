package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	dir  string // removed by Main after the tests
	bin  string
	err  error
}

// BuildGateway builds the gateway binary (go build -tags gateway ./cmd/ork)
// once per test binary and returns its path. The binary lives in a temporary
// directory that Main removes after the tests.
func BuildGateway(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "orkestra-testenv-build-"); build.err != nil {
			return
		}
		bin := filepath.Join(build.dir, "ork")
		if build.err = BuildBinary(bin, "gateway"); build.err == nil {
			build.bin = bin
		}
	})
	if build.err != nil {
		t.Fatalf("testenv: %v", build.err)
	}
	return build.bin
}

func removeBuildDir() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

// modulePath is the project's module; test modules under hack/ (their own
// go.mod) build the gateway from it.
const modulePath = "github.com/orkspace/orkestra-gateway"

// moduleRoot walks up from the working directory (the package being tested)
// to the go.mod of the project's module, past the go.mod of a test module
// under hack/.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modfileModule(b) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of " + modulePath + " above the working directory")
		}
		dir = parent
	}
}

// modfileModule is the module path a go.mod declares.
func modfileModule(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
