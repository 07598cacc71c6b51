package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func TestSecretFromEnv(t *testing.T) {
	env := map[string]string{"HOOK": "https://hooks.example.com/T/B/secret-part\n"}
	s := newSecret(&policy.SecretRef{Env: "HOOK"}, func(k string) string { return env[k] })
	v, err := s.Value()
	if err != nil || v != "https://hooks.example.com/T/B/secret-part" {
		t.Errorf("Value = %q, %v", v, err)
	}
	missing := newSecret(&policy.SecretRef{Env: "NOPE"}, func(k string) string { return env[k] })
	if _, err := missing.Value(); err == nil || !strings.Contains(err.Error(), "env NOPE") {
		t.Errorf("missing env: %v", err)
	}
}

// A file secret follows the file: a rotated Secret volume swaps the
// ..data symlink to a new directory.
func TestSecretFileIsReReadWhenItChanges(t *testing.T) {
	dir := t.TempDir()
	write := func(gen, value string) {
		d := filepath.Join(dir, gen)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "token"), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(gen, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("gen1", "first-token\n")
	if err := os.Symlink(filepath.Join("..data", "token"), filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	s := newSecret(&policy.SecretRef{File: filepath.Join(dir, "token")}, nil)
	if v, err := s.Value(); err != nil || v != "first-token" {
		t.Fatalf("Value = %q, %v", v, err)
	}
	write("gen2", "second-token")
	if v, err := s.Value(); err != nil || v != "second-token" {
		t.Errorf("after rotation: %q, %v", v, err)
	}

	// In place, same size: the mtime tells.
	p := filepath.Join(dir, "plain")
	if err := os.WriteFile(p, []byte("aaaa"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = newSecret(&policy.SecretRef{File: p}, nil)
	if v, _ := s.Value(); v != "aaaa" {
		t.Fatalf("Value = %q", v)
	}
	if err := os.WriteFile(p, []byte("bbbb"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value(); v != "bbbb" {
		t.Errorf("after an in-place write: %q", v)
	}
}

func TestSecretErrorsNeverHoldTheValue(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("s3cret", maxSecretBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "absent"): "no such file",
		empty:                        "is empty",
		big:                          "larger than",
		dir:                          "is a directory",
	} {
		_, err := newSecret(&policy.SecretRef{File: path}, nil).Value()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "file "+path) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error holds the value: %v", err)
		}
	}
}

func TestCAPool(t *testing.T) {
	var none *caPool
	if p, err := none.Pool(); p != nil || err != nil {
		t.Errorf("no CA file: %v %v", p, err)
	}
	bad := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&caPool{file: bad}).Pool(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad CA file: %v", err)
	}
}
