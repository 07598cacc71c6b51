package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// StartPod is StartInPod for programs that are not tests (dev tools such as
// hack/demo, benchmarks): it returns an error instead of failing a test, and
// the caller stops the process (Stop or Kill, then Wait). If the caller dies
// first, the kernel kills the program (Pdeathsig), and its mount namespace,
// with every mount of the sandbox, goes with it.
func (e *Env) StartPod(opts PodOptions) (*Process, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the pod sandbox needs root to create a mount namespace and mount a tmpfs over /run (CI runs as root); running as uid %d", os.Geteuid())
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.ServiceAccount == "" {
		opts.ServiceAccount = "default"
	}
	if opts.Name == "" {
		opts.Name = "testpod"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, err := e.ServiceAccountToken(ctx, opts.Namespace, opts.ServiceAccount, opts.TokenTTL)
	if err != nil {
		return nil, err
	}
	files := []tarFile{
		{saDir + "/token", []byte(token)},
		{saDir + "/ca.crt", e.CAPEM},
		{saDir + "/namespace", []byte(opts.Namespace)},
	}
	for name, data := range opts.Files {
		files = append(files, tarFile{name, data})
	}
	archive, err := tarball(files)
	if err != nil {
		return nil, err
	}

	ready, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer ready.Close()
	args := append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", sandboxScript, "sandbox", opts.Path}, opts.Args...)
	cmd := exec.Command("unshare", args...)
	port := strconv.Itoa(e.Port)
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"HOSTNAME=" + opts.Name,
		"KUBERNETES_SERVICE_HOST=127.0.0.1",
		"KUBERNETES_SERVICE_PORT=" + port,
		"KUBERNETES_SERVICE_PORT_HTTPS=" + port,
		"POD_NAMESPACE=" + opts.Namespace,
		"POD_NAME=" + opts.Name,
		"POD_IP=127.0.0.1",
	}, opts.Env...)
	cmd.Stdin = bytes.NewReader(archive)
	p := &Process{cmd: cmd, done: make(chan struct{}), exitCode: -1, log: opts.Log}
	cmd.Stdout = (*logWriter)(p)
	cmd.Stderr = (*logWriter)(p)
	cmd.ExtraFiles = []*os.File{readyW} // fd 3
	// Own process group, so Kill reaches the program's children too.
	// Pdeathsig: if the caller dies without stopping the program (a panic,
	// go test -timeout, SIGKILL), the kernel kills it; the setting survives
	// the execs of unshare and sh. (It fires when the forking OS thread
	// exits; Go only ends threads of goroutines that exit while locked to
	// them, which this package never does.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second // don't hang on output pipes kept open by orphans

	if err := cmd.Start(); err != nil {
		readyW.Close()
		return nil, fmt.Errorf("starting %s in a pod sandbox: %w", opts.Path, err)
	}
	readyW.Close()
	go func() {
		_ = cmd.Wait() // a non-zero exit is reported by Wait's exit code
		p.mu.Lock()
		p.exitCode = cmd.ProcessState.ExitCode()
		p.mu.Unlock()
		close(p.done)
	}()

	// The script writes "ok" to fd 3 once /run is set up; EOF without it
	// means the setup failed and the script exited.
	_ = ready.SetReadDeadline(time.Now().Add(30 * time.Second))
	if msg, err := io.ReadAll(ready); string(msg) != "ok" {
		p.Kill()
		code, _ := p.Wait(5 * time.Second)
		return nil, fmt.Errorf("setting up the pod sandbox for %s failed (exit code %d, %v):\n%s", opts.Path, code, err, p.Logs())
	}
	return p, nil
}

// Done is closed when the program has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop stops the program as a kubelet stops a container: SIGTERM to the
// program, up to grace for it to exit, then SIGKILL to its whole process
// group. It returns the exit code (-1 if a signal ended it) and an error
// only if the program survived SIGKILL.
func (p *Process) Stop(grace time.Duration) (int, error) {
	select {
	case <-p.done:
	default:
		_ = p.Signal(syscall.SIGTERM)
	}
	if code, err := p.Wait(grace); err == nil {
		p.Kill() // children it left behind
		return code, nil
	}
	p.Kill()
	return p.Wait(10 * time.Second)
}

// BuildBinary runs `go build [-tags tags] -o out ./cmd/ork` in the module
// root (found above the working directory), for tools that are not tests;
// BuildGateway is the cached test variant.
func BuildBinary(out, tags string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := []string{"build"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, "-o", out, "./cmd/ork")...)
	if tags == "gateway" {
		// The gateway as the image runs it: static and stripped, so what
		// the tests measure (start-up, memory) is the shipped binary's.
		cmd = exec.Command("go", append(args, "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/ork")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %w\n%s", cmd.Args[1:], err, b)
	}
	return nil
}
