// Command demo is `make demo`: a walkthrough of the Orkestra Gateway on a
// real local control plane.
//
// It obtains kube-apiserver and etcd (hack/testenv.sh: cached; a cold build
// takes about 10 minutes and shows progress) and mailpit (hack/mailpit.sh),
// starts the control plane on loopback, writes a kubeconfig, starts mailpit
// (SMTP) and a Slack-like webhook receiver, and runs the gateway binary
// (-tags gateway) in the pod sandbox of internal/testenv with a demo Katalog
// assembled from the examples (see assembleKatalog). Then it walks through
// the features with client-go, printing for each step the kubectl command
// that does the same and the real result, and checking it.
//
// Interactive (the default), it then keeps everything running and prints
// how to use it, until Ctrl-C or SIGTERM, which stop every process and
// remove every temporary directory (the sandbox's mounts live in a mount
// namespace that dies with the gateway). With DEMO_NONINTERACTIVE=1 it
// exits after the walkthrough: 0 when every check passed, 1 after the step
// whose check failed first (or if the set-up failed). It needs root (the
// sandbox): without it, it says so and exits 2.
//
// Flags: --ork and --gateway name prebuilt binaries (make demo passes
// bin/ork and bin/ork-gateway); without them the demo builds both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1 // a failed check, or the set-up failed
	exitUsage       = 2 // bad flags or environment, not root
	exitInterrupted = 130
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ork := fs.String("ork", "", "prebuilt toolchain binary (go build ./cmd/ork); default: build it")
	gateway := fs.String("gateway", "", "prebuilt gateway binary (go build -tags gateway ./cmd/ork); default: build it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: demo [--ork PATH] [--gateway PATH]\n\n"+
			"A walkthrough of the Orkestra Gateway on a local kube-apiserver and etcd.\n"+
			"Needs root (the gateway runs in a pod sandbox: a private mount namespace).\n"+
			"DEMO_NONINTERACTIVE=1 runs the walkthrough, checks each result and exits.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	nonInteractive, err := parseFlagEnv("DEMO_NONINTERACTIVE")
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitUsage
	}
	// Root first: nothing is built or started without it.
	if uid := os.Geteuid(); uid != 0 {
		fmt.Fprintf(stderr, "demo: needs root (running as uid %d): the gateway refuses to run outside a pod, so the demo runs it in a pod sandbox, a private mount namespace with a tmpfs over /run holding a real ServiceAccount token, and only root can create one. Run `sudo make demo`, or try a Katalog without a cluster with `ork gateway eval`.\n", uid)
		return exitUsage
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(stderr, "demo: run it from the repository (make demo): %v\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{
		root: root, out: stdout, nonInteractive: nonInteractive,
		orkBin: *ork, gatewayBin: *gateway, start: time.Now(),
	}
	code := d.main(ctx)
	// Cleanup must finish even if the user presses Ctrl-C again: keep
	// catching the signals, and say what is happening.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for range sigs {
			d.printf("demo: still cleaning up, a few seconds...\n")
		}
	}()
	d.cleanup()
	signal.Stop(sigs)
	return code
}

// main runs the set-up and the walkthrough, then waits for a signal when
// interactive. It returns the exit code; cleanup is the caller's.
func (d *demo) main(ctx context.Context) int {
	interrupted := func() int {
		d.printf("\ndemo: interrupted; stopping everything\n")
		return exitInterrupted
	}
	if err := d.setup(ctx); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		d.printf("\ndemo: set-up failed: %v\n", err)
		return exitFailed
	}
	setupTime := time.Since(d.start)
	walkStart := time.Now()
	err := d.walkthrough(ctx)
	if ctx.Err() != nil {
		return interrupted()
	}
	walkTime := time.Since(walkStart)
	switch {
	case err != nil:
		d.printf("\ndemo: FAILED: %v\n", err)
		d.printGatewayTail()
		if d.nonInteractive {
			return exitFailed
		}
	case d.failed > 0:
		d.printf("\ndemo: %d of %d checks FAILED\n", d.failed, d.checks)
		d.printGatewayTail()
	default:
		d.printf("\ndemo: all %d checks passed (set-up %s, walkthrough %s, total %s)\n",
			d.checks, round(setupTime), round(walkTime), round(time.Since(d.start)))
	}
	if d.nonInteractive {
		if d.failed > 0 {
			return exitFailed
		}
		return exitOK
	}
	d.printUsage()
	select {
	case <-ctx.Done():
		d.printf("\ndemo: stopping everything\n")
		return exitOK
	case <-d.gateway.Done():
		d.printf("\ndemo: the gateway exited unexpectedly; stopping everything\n")
		d.printGatewayTail()
		return exitFailed
	}
}

// parseFlagEnv reads a boolean environment variable; unset or empty is false.
func parseFlagEnv(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want 1 or 0 (true or false)", name, v)
	}
	return b, nil
}

// moduleRoot walks up from the working directory to the first go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "examples", "gateway", "katalog.yaml")); err != nil {
				return "", fmt.Errorf("%s has a go.mod but no examples/gateway/katalog.yaml", dir)
			}
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// cachedTool returns $env when set, else runs script (hack/testenv.sh or
// hack/mailpit.sh), which builds the tool once, caches it and prints its
// path; the script's progress goes to the terminal. The script runs in its
// own process group so a signal to the demo stops the whole build.
func (d *demo) cachedTool(ctx context.Context, env, script string) (string, error) {
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(d.root, script))
	cmd.Stderr = prefixWriter(d.out, "   | ")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	path := strings.TrimSpace(string(out))
	if path == "" {
		return "", fmt.Errorf("%s printed no path", script)
	}
	return path, nil
}

func round(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}
