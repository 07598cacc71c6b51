package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// These tests run the demo binary as `make demo` does, on its own control
// plane, and check what a user sees and that nothing is left behind.

var bins struct {
	once               sync.Once
	demo, ork, gateway string
	err                error
}

// binaries builds the demo, ork and the gateway once, in a directory any
// user can read (the not-root test runs the demo as nobody).
func binaries(t *testing.T) (demo, ork, gateway string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "orkestra-demo-test-")
		if err != nil {
			bins.err = err
			return
		}
		if bins.err = os.Chmod(dir, 0o755); bins.err != nil {
			return
		}
		bins.demo, bins.ork, bins.gateway = filepath.Join(dir, "demo"), filepath.Join(dir, "ork"), filepath.Join(dir, "ork-gateway")
		if out, err := exec.Command("go", "build", "-o", bins.demo, ".").CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build ./hack/demo: %v\n%s", err, out)
			return
		}
		if bins.err = testenv.BuildBinary(bins.ork, ""); bins.err != nil {
			return
		}
		bins.err = testenv.BuildBinary(bins.gateway, "gateway")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.demo, bins.ork, bins.gateway
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.demo != "" {
		_ = os.RemoveAll(filepath.Dir(bins.demo))
	}
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("the demo runs the gateway in a pod sandbox, which needs root (CI runs tests as root); running as uid %d", os.Geteuid())
	}
}

// demoRun is one demo process with its output captured.
type demoRun struct {
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	code int
}

func startDemo(t *testing.T, env ...string) *demoRun {
	t.Helper()
	demo, ork, gateway := binaries(t)
	r := &demoRun{out: &testenv.Buffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(demo, "--ork", ork, "--gateway", gateway)
	r.cmd.Dir = filepath.Join("..", "..")
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = r.cmd.Wait()
		r.code = r.cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", r.out.String())
		}
	})
	return r
}

// wait waits for the demo to exit and returns its exit code.
func (r *demoRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(timeout):
		t.Fatalf("the demo still runs after %s", timeout)
		return 0
	}
}

// waitFor waits until the output contains s.
func (r *demoRun) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.out.String(), s) {
		select {
		case <-r.done:
			t.Fatalf("the demo exited (code %d) before printing %q", r.code, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %s", s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var workDirRE = regexp.MustCompile(`working directory (/\S+)`)

func (r *demoRun) workDir(t *testing.T) string {
	t.Helper()
	m := workDirRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatal("the demo did not print its working directory")
	}
	return m[1]
}

// footprint is what one demo run puts on the machine while it runs.
type footprint struct {
	pids    []string // processes whose command line names the demo's directories
	dirs    []string // the working directory and envtest's directories
	mountNS string   // the gateway's mount namespace
}

// observe finds the demo's processes, directories and the sandbox's mount
// namespace while it runs: every process whose command line names the
// working directory (the gateway, mailpit), the API server on apiPort, and
// the etcd and directories its command line names.
func observe(t *testing.T, workDir, apiPort string) footprint {
	t.Helper()
	fp := footprint{dirs: []string{workDir}}
	marks := []string{workDir, "--secure-port=" + apiPort}
	procs := processes()
	for pid, cl := range procs {
		if strings.Contains(cl, "--secure-port="+apiPort) {
			for _, arg := range strings.Split(cl, "\x00") {
				for _, flag := range []string{"--cert-dir=", "--etcd-servers="} {
					if v, ok := strings.CutPrefix(arg, flag); ok {
						if flag == "--cert-dir=" {
							fp.dirs = append(fp.dirs, v)
						}
						marks = append(marks, v)
					}
				}
			}
			_ = pid
		}
	}
	for pid, cl := range procs {
		for _, m := range marks {
			if strings.Contains(cl, m) {
				fp.pids = append(fp.pids, pid)
				if strings.Contains(cl, "katalog.yaml") && strings.Contains(cl, "gateway") {
					fp.mountNS, _ = os.Readlink("/proc/" + pid + "/ns/mnt")
				}
				if strings.Contains(cl, "etcd") {
					for _, arg := range strings.Split(cl, "\x00") {
						if v, ok := strings.CutPrefix(arg, "--data-dir="); ok {
							fp.dirs = append(fp.dirs, v)
						}
					}
				}
				break
			}
		}
	}
	return fp
}

// processes maps PIDs to NUL-separated command lines.
func processes() map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		out[filepath.Base(filepath.Dir(f))] = string(b)
	}
	return out
}

// checkGone fails for every process, directory or mount namespace of fp
// that still exists.
func checkGone(t *testing.T, fp footprint) {
	t.Helper()
	// A process the demo killed may take a moment to be reaped: what
	// remains after a few seconds is left behind.
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if left = leftBehind(fp); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, l := range left {
		t.Error(l)
	}
}

// leftBehind lists what of the demo's footprint still exists.
func leftBehind(fp footprint) []string {
	var out []string
	for _, pid := range fp.pids {
		if b, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil && len(b) > 0 {
			// A reused PID would not name the demo's directories.
			for _, d := range fp.dirs {
				if strings.Contains(string(b), d) {
					out = append(out, fmt.Sprintf("process %s is still running: %q", pid, strings.ReplaceAll(string(b), "\x00", " ")))
				}
			}
		}
	}
	for _, d := range fp.dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			out = append(out, fmt.Sprintf("%s was not removed (stat: %v)", d, err))
		}
	}
	if fp.mountNS == "" {
		return out
	}
	nss, _ := filepath.Glob("/proc/[0-9]*/ns/mnt")
	for _, f := range nss {
		if ns, err := os.Readlink(f); err == nil && ns == fp.mountNS {
			// The kernel reuses a freed namespace's number: a sandbox of
			// another test may hold it now. The demo's processes name
			// its directories.
			cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(f)), "cmdline"))
			for _, d := range fp.dirs {
				if strings.Contains(string(cmd), d) {
					out = append(out, fmt.Sprintf("the sandbox's mount namespace %s is still held by %s (%q)", ns, f, strings.ReplaceAll(string(cmd), "\x00", " ")))
					break
				}
			}
		}
	}
	return out
}

var apiPortRE = regexp.MustCompile(`control plane up at https://127\.0\.0\.1:(\d+)`)

func (r *demoRun) apiPort(t *testing.T) string {
	t.Helper()
	m := apiPortRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatal("the demo did not print the API server's address")
	}
	return m[1]
}

// CI's way: every step runs and is checked, then everything is stopped.
func TestNonInteractive(t *testing.T) {
	requireRoot(t)
	start := time.Now()
	r := startDemo(t, "DEMO_NONINTERACTIVE=1")
	r.waitFor(t, "set-up done", 3*time.Minute)
	fp := observe(t, r.workDir(t), r.apiPort(t))
	if len(fp.pids) < 3 || fp.mountNS == "" {
		t.Errorf("found %d processes (want the gateway, mailpit, kube-apiserver and etcd) and mount namespace %q", len(fp.pids), fp.mountNS)
	}
	if code := r.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	t.Logf("the non-interactive demo took %s (binaries prebuilt)", time.Since(start).Round(time.Millisecond))
	out := r.out.String()
	for i, s := range walkthrough {
		if !strings.Contains(out, fmt.Sprintf("== %d/%d  %s", i+1, len(walkthrough), s.title)) {
			t.Errorf("step %q not shown", s.title)
		}
	}
	if strings.Contains(out, "[FAIL]") || !regexp.MustCompile(`all \d+ checks passed`).MatchString(out) {
		t.Errorf("not every check passed")
	}
	for _, want := range []string{
		"$ kubectl -n demo delete configmap precious",
		"Error from server (Forbidden): admission webhook \"deletion-protection.platform-guard.orkestra.io\" denied the request",
		"Warning: break-glass",
		"The Website \"too-big\" is invalid: \n     * spec.replicas: Invalid value: 20: replicas must be between 1 and 10\n",
		"Warning: spec.image: images should come from registry.example.com",
		"standard orkestra",
		"it removed its webhook configurations",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if r.cmd.ProcessState.ExitCode() == 0 && strings.Contains(out, "Press Ctrl-C") {
		t.Errorf("the non-interactive demo printed the interactive instructions")
	}
	checkGone(t, fp)
}

// Interactive: it keeps running until Ctrl-C, then stops everything.
func TestInteractiveCtrlC(t *testing.T) {
	requireRoot(t)
	r := startDemo(t, "DEMO_NONINTERACTIVE=")
	r.waitFor(t, "Press Ctrl-C", 3*time.Minute)
	dir := r.workDir(t)
	fp := observe(t, dir, r.apiPort(t))
	out := r.out.String()
	for _, want := range []string{"export KUBECONFIG=" + dir + "/kubeconfig", "tail -f " + dir + "/gateway.log"} {
		if !strings.Contains(out, want) {
			t.Errorf("the instructions lack %q", want)
		}
	}
	// The kubeconfig works while the demo runs, and conversion with it.
	cfg, err := clientcmd.BuildConfigFromFlags("", dir+"/kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(websites("v1")).Namespace("web-shop").Get(context.Background(), "legacy", metav1.GetOptions{}); err != nil {
		t.Errorf("reading the walkthrough's Website at v1 with the demo's kubeconfig: %v", err)
	}
	if _, err := exec.LookPath("kubectl"); err == nil {
		kc, err := exec.Command("kubectl", "--kubeconfig", dir+"/kubeconfig", "get", "websites.v3.web.example.com", "-n", "web-shop", "-o", "name").CombinedOutput()
		if err != nil || !strings.Contains(string(kc), "website.web.example.com/legacy") {
			t.Errorf("kubectl with the demo's kubeconfig: %v\n%s", err, kc)
		}
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case <-r.done:
		t.Fatalf("the interactive demo exited (code %d) without a signal", r.code)
	default:
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t, 60*time.Second); code != 0 {
		t.Errorf("exit code %d after Ctrl-C, want 0", code)
	}
	if !strings.Contains(r.out.String(), "removed "+dir) {
		t.Errorf("the demo did not report removing %s", dir)
	}
	checkGone(t, fp)
}

// A SIGTERM in the middle of the set-up stops what was started so far.
func TestTerminatedDuringSetup(t *testing.T) {
	requireRoot(t)
	r := startDemo(t, "DEMO_NONINTERACTIVE=1")
	r.waitFor(t, "control plane up", 3*time.Minute)
	fp := observe(t, r.workDir(t), r.apiPort(t))
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := r.wait(t, 60*time.Second)
	if code != exitInterrupted && !strings.Contains(r.out.String(), "set-up done") {
		t.Errorf("exit code %d, want %d", code, exitInterrupted)
	}
	checkGone(t, fp)
}

func TestNotRoot(t *testing.T) {
	requireRoot(t) // to run it as someone else
	demo, _, _ := binaries(t)
	cmd := exec.Command(demo)
	cmd.Dir = filepath.Join("..", "..")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitUsage {
		t.Fatalf("exit code %d (%v), want %d\n%s", code, err, exitUsage, out)
	}
	if !bytes.Contains(out, []byte("demo: needs root (running as uid 65534)")) || !bytes.Contains(out, []byte("sudo make demo")) {
		t.Errorf("message:\n%s", out)
	}
	if bytes.Contains(out, []byte("working directory")) {
		t.Errorf("started before checking for root:\n%s", out)
	}
}

func TestBadEnvironment(t *testing.T) {
	var out bytes.Buffer
	t.Setenv("DEMO_NONINTERACTIVE", "maybe")
	if code := run(nil, &out, &out); code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(out.String(), `DEMO_NONINTERACTIVE="maybe": want 1 or 0`) {
		t.Errorf("message: %s", out.String())
	}
	out.Reset()
	t.Setenv("DEMO_NONINTERACTIVE", "")
	if code := run([]string{"extra"}, &out, &out); code != exitUsage || !strings.Contains(out.String(), `unexpected argument "extra"`) {
		t.Errorf("exit code %d, message %s", code, out.String())
	}
}
