package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files serves an external certificate pair (TLS_CERT_FILE and
// TLS_KEY_FILE): the user owns it and the caBundle, so its material has no
// CA. Reload (or Watch) swaps in a changed pair.
type Files struct {
	*Holder
	CertFile, KeyFile string
	// Logger receives Watch's reloads and errors; nil discards. Set it
	// before calling Watch.
	Logger *slog.Logger

	mu    sync.Mutex
	stats [2]os.FileInfo // of the pair last loaded
}

// FromFiles loads the PEM certificate chain in certFile and its private key
// in keyFile.
func FromFiles(certFile, keyFile string) (*Files, error) {
	f := &Files{Holder: &Holder{}, CertFile: certFile, KeyFile: keyFile}
	if _, err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// reload loads the pair again if either file changed (another inode, size
// or modification time, as when the kubelet swaps a mounted Secret) and its
// content differs. On error the served certificate is kept.
func (f *Files) reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var stats [2]os.FileInfo
	for i, name := range []string{f.CertFile, f.KeyFile} {
		if stats[i], err = os.Stat(name); err != nil {
			return false, err
		}
	}
	if f.stats[0] != nil && sameFile(f.stats[0], stats[0]) && sameFile(f.stats[1], stats[1]) {
		return false, nil
	}
	certPEM, err := os.ReadFile(f.CertFile)
	if err != nil {
		return false, err
	}
	keyPEM, err := os.ReadFile(f.KeyFile)
	if err != nil {
		return false, err
	}
	if cur := f.Current(); cur != nil && bytes.Equal(cur.CertPEM, certPEM) && bytes.Equal(cur.KeyPEM, keyPEM) {
		f.stats = stats // touched, not changed
		return false, nil
	}
	cert, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		// Not recording stats: a half-written pair is retried at the next call.
		var ie *invalidError
		if errors.As(err, &ie) {
			ie.Key = map[string]string{KeyCert: f.CertFile, KeyKey: f.KeyFile}[ie.Key]
		}
		return false, fmt.Errorf("loading the TLS certificate from files: %w", err)
	}
	if err := f.set(&Material{CertPEM: certPEM, KeyPEM: keyPEM, Certificate: cert}); err != nil {
		return false, err
	}
	f.stats = stats
	return true, nil
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// defaultWatchInterval is Watch's polling interval when given none.
const defaultWatchInterval = 10 * time.Second

// Watch calls Reload every interval (defaultWatchInterval if interval <= 0)
// until ctx is done, logging reloads and errors.
func (f *Files) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = defaultWatchInterval
	}
	log := f.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := f.reload()
		switch {
		case err != nil:
			log.Error("keeping the current TLS certificate", "err", err)
		case changed:
			log.Info("reloaded the TLS certificate", "certFile", f.CertFile, "notAfter", f.NotAfter())
		}
	}
}
