package testenv

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PodOptions describes an executable to run as if it were a pod's container.
type PodOptions struct {
	Path string // the executable
	Args []string

	Namespace      string // default "default"; created if absent
	ServiceAccount string // default "default"; created if absent, NOT bound to any role
	Name           string // POD_NAME and HOSTNAME, default "testpod"
	TokenTTL       time.Duration

	// Env is appended to the pod's environment (KEY=VALUE; a later entry
	// replaces an earlier one with the same key). The host's environment is
	// not inherited, as in a real pod.
	Env []string
	// Files are written into the sandbox's private /run after the service
	// account files (so they may replace token, ca.crt or namespace), e.g.
	// a mounted secret at /var/run/secrets/ork/tls.crt. Keys must be absolute
	// paths under /run or /var/run.
	Files map[string][]byte
	// Log, when set, also receives the program's output as it is written
	// (Logs keeps all of it either way).
	Log io.Writer
}

const saDir = "/run/secrets/kubernetes.io/serviceaccount"

// sandboxScript runs inside the new mount namespace (unshare makes every mount
// private, so no mount propagates to the host): it hides the host's /run
// under a tmpfs (/var/run links to /run), unpacks the pod's files from stdin
// into it, tells StartInPod on fd 3 that the sandbox is ready, and becomes
// the program.
//
// The namespace shares the host's filesystems, only the mount table is
// private: anything written under /run before the tmpfs is mounted lands on
// the host. Hence mount -n (else libmount creates /run/mount/utab there). tar
// -m: clock jitter here made tar warn about mtimes "in the future".
const sandboxScript = `set -e
mount -n -t tmpfs -o mode=0755,size=16m tmpfs /run
tar -x -m -C /run
printf ok >&3
exec 3>&-
exec "$@" </dev/null`

// StartInPod runs opts.Path as if inside a pod of namespace/serviceaccount
// opts.Namespace/opts.ServiceAccount: in a private mount namespace whose /run
// holds secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace} (a
// TokenRequest token, the API server CA, the namespace) and opts.Files, with
// KUBERNETES_SERVICE_HOST/PORT pointing at this API server and POD_NAMESPACE,
// POD_NAME, POD_IP=127.0.0.1 set. Nothing is created in the host's /run.
//
// It returns once the sandbox is set up. The process is killed with its
// whole process group at test cleanup, and its output is logged if the test
// failed. Needs root (mount namespaces). StartPod is the same without a test.
func (e *Env) StartInPod(t testing.TB, opts PodOptions) *Process {
	t.Helper()
	p, err := e.StartPod(opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		p.Kill()
		if _, err := p.Wait(10 * time.Second); err != nil {
			t.Errorf("testenv: %s (pid %d) still running after SIGKILL: %v", opts.Path, p.PID(), err)
		}
		if t.Failed() {
			t.Logf("output of %s %q (pid %d):\n%s", opts.Path, opts.Args, p.PID(), p.Logs())
		}
	})
	return p
}

type tarFile struct {
	name string
	data []byte
}

// tarball packs files (absolute paths under /run or /var/run) relative to /run.
func tarball(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		name := path.Clean(f.name)
		rel, ok := strings.CutPrefix(name, "/var/run/")
		if !ok {
			rel, ok = strings.CutPrefix(name, "/run/")
		}
		if !ok {
			return nil, fmt.Errorf("pod file %q: only paths under /run or /var/run are private to the sandbox", f.name)
		}
		hdr := &tar.Header{Name: rel, Mode: 0o644, Size: int64(len(f.data))}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return buf.Bytes(), err
}

// Process is a program started by StartInPod.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu       sync.Mutex
	out      bytes.Buffer
	log      io.Writer // PodOptions.Log
	exitCode int
}

type logWriter Process

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.log != nil {
		_, _ = w.log.Write(b) // a failing copy must not stop the program's output
	}
	return w.out.Write(b)
}

// PID of the program (unshare and sh exec into it, so it is also the PID
// unshare started with, and its process group ID).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Logs returns the program's stdout and stderr so far, interleaved.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitForLog waits until the output contains substr. It fails early if the
// program exits without having printed it.
func (p *Process) WaitForLog(substr string, timeout time.Duration) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.Contains(p.Logs(), substr) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.Logs(), substr) {
				return nil
			}
			return fmt.Errorf("process exited (code %d) without logging %q; output:\n%s", p.exitCode, substr, p.Logs())
		case <-deadline:
			return fmt.Errorf("no %q in the output after %s; output:\n%s", substr, timeout, p.Logs())
		case <-tick.C:
		}
	}
}

// Signal sends sig to the program only, as a container runtime does on stop.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL to the program's whole process group.
func (p *Process) Kill() { _ = syscall.Kill(-p.PID(), syscall.SIGKILL) }

// Wait waits for the program to exit and returns its exit code, -1 if a
// signal killed it. It returns an error if it is still running after timeout.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.exitCode, nil
	case <-time.After(timeout):
		return -1, fmt.Errorf("pid %d still running after %s", p.PID(), timeout)
	}
}

// WriteFile replaces a file in the running sandbox's /run (e.g. a rotated
// token or certificate), atomically by rename as the kubelet does.
func (p *Process) WriteFile(name string, data []byte) error {
	rel, ok := strings.CutPrefix(path.Clean(name), "/var/run/")
	if !ok {
		if rel, ok = strings.CutPrefix(path.Clean(name), "/run/"); !ok {
			return fmt.Errorf("%q is not under /run or /var/run", name)
		}
	}
	// Through /proc/PID/root we see the program's mount namespace. Check it
	// is still the sandbox's (not the host's, if the PID were reused).
	root := fmt.Sprintf("/proc/%d/root", p.PID())
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p.PID()))
	self, _ := os.Readlink("/proc/self/ns/mnt")
	select {
	case <-p.done:
		return errors.New("process has exited")
	default:
	}
	if err != nil || ns == self {
		return fmt.Errorf("pid %d is not in its sandbox mount namespace (%v)", p.PID(), err)
	}
	dst := filepath.Join(root, "run", rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), ".tmp."+filepath.Base(dst))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
