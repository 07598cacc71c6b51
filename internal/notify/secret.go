package notify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// maxSecretBytes bounds a secret file: a token, URL or password is small,
// and a wrong mount (a directory of certificates, a log) should fail clearly.
const maxSecretBytes = 64 << 10

// secret is a secret value from an environment variable or a mounted file.
// File values are re-read when the file changes (a rotated Kubernetes
// Secret swaps the ..data symlink, which changes the file's identity and
// mtime), checked with one stat per use. Errors name the source, never the
// value.
type secret struct {
	ref    policy.SecretRef
	getenv func(string) string

	mu    sync.Mutex
	stamp fileStamp
	value string
}

func newSecret(ref *policy.SecretRef, getenv func(string) string) *secret {
	if ref == nil {
		return nil
	}
	return &secret{ref: *ref, getenv: getenv}
}

// source names where the secret comes from, for errors and logs.
func (s *secret) source() string {
	if s.ref.Env != "" {
		return "env " + s.ref.Env
	}
	return "file " + s.ref.File
}

// Value returns the current value, without trailing line breaks (files
// written by `kubectl create secret --from-file` often end with one).
func (s *secret) Value() (string, error) {
	if s.ref.Env != "" {
		v := strings.TrimRight(s.getenv(s.ref.Env), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret %s is not set or empty", s.source())
		}
		return v, nil
	}
	b, changed, err := s.read()
	if err != nil {
		return "", err
	}
	if changed {
		s.mu.Lock()
		s.value = strings.TrimRight(string(b), "\r\n")
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value == "" {
		return "", fmt.Errorf("secret %s is empty", s.source())
	}
	return s.value, nil
}

// read returns the file's content when it changed since the last read.
func (s *secret) read() ([]byte, bool, error) {
	st, err := stat(s.ref.File)
	if err != nil {
		return nil, false, fmt.Errorf("secret %s: %w", s.source(), pathless(err))
	}
	s.mu.Lock()
	same := s.stamp.same(st)
	s.mu.Unlock()
	if same {
		return nil, false, nil
	}
	b, err := readSmall(s.ref.File)
	if err != nil {
		return nil, false, fmt.Errorf("secret %s: %w", s.source(), pathless(err))
	}
	s.mu.Lock()
	s.stamp = st
	s.mu.Unlock()
	return b, true, nil
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	info fs.FileInfo
	mod  time.Time
	size int64
}

func stat(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	if fi.IsDir() {
		return fileStamp{}, errors.New("is a directory")
	}
	return fileStamp{info: fi, mod: fi.ModTime(), size: fi.Size()}, nil
}

func (f fileStamp) same(g fileStamp) bool {
	return f.info != nil && g.info != nil && os.SameFile(f.info, g.info) && f.mod.Equal(g.mod) && f.size == g.size
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxSecretBytes)
	}
	return b, nil
}

// pathless drops the path from an *fs.PathError (the caller names the
// source already) and keeps the reason.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// caPool is the system roots plus the certificates of a CA file, re-read
// when the file changes.
type caPool struct {
	file string

	mu    sync.Mutex
	stamp fileStamp
	pool  *x509.CertPool
}

// Pool returns the roots to verify a server with; nil means the system
// roots (no CA file).
func (c *caPool) Pool() (*x509.CertPool, error) {
	if c == nil || c.file == "" {
		return nil, nil
	}
	st, err := stat(c.file)
	if err != nil {
		return nil, fmt.Errorf("smtp.caFile %s: %w", c.file, pathless(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool != nil && c.stamp.same(st) {
		return c.pool, nil
	}
	b, err := os.ReadFile(c.file)
	if err != nil {
		return nil, fmt.Errorf("smtp.caFile %s: %w", c.file, pathless(err))
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("smtp.caFile %s holds no PEM certificate", c.file)
	}
	c.pool, c.stamp = pool, st
	return pool, nil
}
