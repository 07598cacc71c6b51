package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/bench"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// The gateway runs as the ServiceAccount gatewayNS/gatewaySA, bound to
// cluster-admin (RBAC minimality is the bundle's test, not this one's).
const (
	gatewayNS  = "orkestra-system"
	gatewaySA  = "gateway"
	secretName = "orkestra-internal-tls" // certManager.secretName default
)

var (
	secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	crds    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	vaps    = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapbs   = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
	nss     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// websiteGroups are the copies of the Website CRD, one per admission
// variant of the end-to-end benchmark.
var websiteGroups = []string{bench.GroupNone, bench.GroupGateway, bench.GroupVAP, bench.GroupFloor, bench.GroupNative}

func websites(group string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: "v1", Resource: "websites"}
}

type harness struct {
	o    *options
	env  *testenv.Env
	dyn  dynamic.Interface // admin, without client-side rate limiting
	work string            // temporary work directory
	bin  string            // the gateway binary

	// The gateway of sections 1, 2 and 5, and the TLS material it created.
	main    *gateway
	mainLog string // its output
	caPEM   []byte
	tlsDir  string // tls.crt, tls.key, ca.crt, ca.key for the floor and notify servers
	floor   *child
	slack   *slackStub // where the gateway delivers notifications
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func newHarness(o *options) (*harness, error) {
	work, err := os.MkdirTemp("", "orkestra-bench-")
	if err != nil {
		return nil, err
	}
	slack, err := startSlackStub()
	if err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	return &harness{o: o, work: work, slack: slack}, nil
}

func (h *harness) close() {
	h.stopMain()
	h.slack.close()
	if h.floor != nil {
		h.floor.stop()
	}
	if h.env != nil {
		if err := h.env.Stop(); err != nil {
			h.logf("stopping the control plane: %v", err)
		}
	}
	if h.o.keepWorkdir {
		h.logf("work directory kept: %s", h.work)
		return
	}
	_ = os.RemoveAll(h.work)
}

// handlers is section 7: the handlers' cost in process, before anything
// else runs on the machine.
func (h *harness) handlers() ([]bench.HandlerCost, error) {
	h.logf("handler cost in process (%d runs)", h.o.handlerRuns)
	path, err := bench.WriteKatalog(filepath.Join(h.work, "katalog-handlers"), "https://127.0.0.1:8443")
	if err != nil {
		return nil, err
	}
	p, err := bench.CompileKatalog(path)
	if err != nil {
		return nil, err
	}
	hc, err := bench.MeasureHandlers(p, h.o.handlerRuns)
	for _, c := range hc {
		h.logf("%s in process: floor %.1f µs, gateway %.1f µs of CPU per request (%.2fx)", c.Path, c.FloorCPUMicros, c.GatewayCPUMicros, c.Ratio)
	}
	return hc, err
}

// setup builds the gateway, starts the control plane and creates what
// every section needs: the namespaces, the CRDs, the policy.
func (h *harness) setup(ctx context.Context, res *bench.Results) error {
	h.bin = filepath.Join(h.work, "ork")
	h.logf("building the gateway binary (go build -tags gateway -trimpath -ldflags \"-s -w\")")
	if err := buildGateway(h.bin); err != nil {
		return err
	}
	h.logf("starting kube-apiserver and etcd from $%s", testenv.AssetsEnv)
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	h.env = env
	cfg := rest.CopyConfig(env.Config)
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter() // measure the server, not client-side throttling
	if h.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	if res.Machine.APIServer, err = apiServerVersion(env.Config); err != nil {
		h.logf("kube-apiserver version: %v", err)
	}
	if err := env.BindClusterAdmin(ctx, gatewayNS, gatewaySA); err != nil {
		return err
	}
	if err := h.createYAML(ctx, nss, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", bench.Namespace)); err != nil {
		return err
	}
	for _, g := range websiteGroups {
		if err := h.createYAML(ctx, crds, bench.WebsiteCRD(g)); err != nil {
			return err
		}
	}
	if err := h.createYAML(ctx, crds, bench.GadgetCRD); err != nil {
		return err
	}
	docs := strings.Split(bench.VAP, "\n---\n")
	if err := h.createYAML(ctx, vaps, docs[0]); err != nil {
		return err
	}
	if err := h.createYAML(ctx, vapbs, docs[1]); err != nil {
		return err
	}
	for _, g := range websiteGroups {
		if err := eventually(ctx, 30*time.Second, "websites."+g+" served", func() error {
			_, err := h.dyn.Resource(websites(g)).Namespace(bench.Namespace).List(ctx, metav1.ListOptions{Limit: 1})
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

func buildGateway(out string) error {
	cmd := exec.Command("go", "build", "-tags", "gateway", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/ork")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -tags gateway ./cmd/ork (run from the module root): %v\n%s", err, b)
	}
	return nil
}

func apiServerVersion(cfg *rest.Config) (string, error) {
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return "", err
	}
	host := strings.TrimSuffix(cfg.Host, "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	resp, err := c.Get(host + "/version")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", err
	}
	return v.GitVersion, nil
}

// createYAML creates one object from YAML; an existing one is fine.
func (h *harness) createYAML(ctx context.Context, gvr schema.GroupVersionResource, doc string) error {
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		return fmt.Errorf("%s: %w", gvr.Resource, err)
	}
	u := &unstructured.Unstructured{Object: obj}
	var ri dynamic.ResourceInterface = h.dyn.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		ri = h.dyn.Resource(gvr).Namespace(ns)
	}
	if _, err := ri.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s %s: %w", gvr.Resource, u.GetName(), err)
	}
	return nil
}

// eventually retries f every 50 ms until it succeeds or timeout passes.
func eventually(ctx context.Context, timeout time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still failing after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// gateway is one sandboxed gateway process.
type gateway struct {
	proc                               *testenv.Process
	webhookPort, probePort, notifyPort int
	dir                                string
}

func (g *gateway) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", g.webhookPort, path)
}

// newGateway allocates ports and writes the Katalog directory.
func (h *harness) newGateway() (*gateway, error) {
	g := &gateway{}
	for _, p := range []*int{&g.webhookPort, &g.probePort, &g.notifyPort} {
		var err error
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	g.dir = filepath.Join(h.work, "katalog-"+strconv.Itoa(g.webhookPort))
	if _, err := bench.WriteKatalog(g.dir, fmt.Sprintf("https://127.0.0.1:%d", g.webhookPort)); err != nil {
		return nil, err
	}
	return g, nil
}

// start runs the gateway in the pod sandbox; it returns once the process
// is about to exec (the sandbox is set up), so the caller can time it.
//
// With logFile set, the gateway's output goes to that file, as a container
// runtime writes it to disk, rather than to the harness: under load the
// gateway logs a line per denial, and the harness would otherwise keep
// every line in memory and compete for the CPU while it does.
func (h *harness) start(g *gateway, logFile string) error {
	args := []string{"gateway", "-f", filepath.Join(g.dir, "katalog.yaml"),
		"--webhook-port", strconv.Itoa(g.webhookPort),
		"--probe-port", strconv.Itoa(g.probePort),
		"--notify-port", strconv.Itoa(g.notifyPort)}
	opts := testenv.PodOptions{
		Path:           h.bin,
		Args:           args,
		Namespace:      gatewayNS,
		ServiceAccount: gatewaySA,
		Name:           "gateway-bench",
		Env:            []string{"BENCH_SLACK_WEBHOOK_URL=" + h.slack.url},
	}
	if logFile != "" {
		// sh execs the gateway: the sandbox's PID stays the gateway's.
		opts.Path = "/bin/sh"
		opts.Args = append([]string{"-c", `exec "$0" "$@" >>"$ORK_BENCH_LOG" 2>&1`, h.bin}, args...)
		opts.Env = append(opts.Env, "ORK_BENCH_LOG="+logFile)
	}
	var err error
	g.proc, err = h.env.StartPod(opts)
	return err
}

// waitReady polls /readyz every interval until it answers 200.
func (g *gateway) waitReady(timeout, interval time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", g.probePort)
	deadline := time.Now().Add(timeout)
	last := "unreachable"
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
		select {
		case <-g.proc.Done():
			return fmt.Errorf("the gateway exited:\n%s", g.proc.Logs())
		case <-time.After(interval):
		}
	}
	return fmt.Errorf("/readyz after %s: %s\n%s", timeout, last, g.proc.Logs())
}

func (g *gateway) stop() {
	if g == nil || g.proc == nil {
		return
	}
	g.proc.Kill()
	_, _ = g.proc.Wait(10 * time.Second)
}

// selfReportedStartup is the "startup" field of the gateway's "ready" log
// line.
func (g *gateway) selfReportedStartup() (time.Duration, error) {
	sc := bufio.NewScanner(strings.NewReader(g.proc.Logs()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Startup string `json:"startup"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "ready" {
			continue
		}
		return time.ParseDuration(line.Startup)
	}
	return 0, errors.New("no ready line with a startup field in the gateway's log")
}

// startMain starts the gateway of sections 1, 2 and 5 and the floor, with
// the TLS material the gateway created.
func (h *harness) startMain(ctx context.Context) error {
	g, err := h.newGateway()
	if err != nil {
		return err
	}
	h.logf("starting the gateway in the pod sandbox (webhooks on :%d)", g.webhookPort)
	h.mainLog = filepath.Join(h.work, "gateway.log")
	if err := h.start(g, h.mainLog); err != nil {
		return err
	}
	h.main = g
	if err := g.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
		b, _ := os.ReadFile(h.mainLog)
		return fmt.Errorf("%w\n%s", err, b)
	}
	data, err := h.secretData(ctx)
	if err != nil {
		return err
	}
	if err := h.writeTLS(data); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	h.floor, err = startChild(ctx, "floor", "-tls-dir", h.tlsDir, "-port", strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("floor server: %w", err)
	}
	h.floor.port = port
	return nil
}

// writeTLS keeps TLS Secret data for the child servers (one file per key)
// and the CA for the load generator.
func (h *harness) writeTLS(data map[string][]byte) error {
	h.caPEM = data["ca.crt"]
	h.tlsDir = filepath.Join(h.work, "tls")
	if err := os.MkdirAll(h.tlsDir, 0o700); err != nil {
		return err
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(h.tlsDir, k), v, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) stopMain() {
	if h.main != nil {
		h.main.stop()
		h.main = nil
	}
}

// secretData is the decoded data of the gateway's TLS Secret.
func (h *harness) secretData(ctx context.Context) (map[string][]byte, error) {
	u, err := h.dyn.Resource(secrets).Namespace(gatewayNS).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	raw, _, _ := unstructured.NestedStringMap(u.Object, "data")
	out := map[string][]byte{}
	for k, v := range raw {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("secret %s key %s: %w", secretName, k, err)
		}
		out[k] = b
	}
	if len(out["ca.crt"]) == 0 || len(out["tls.crt"]) == 0 {
		return nil, fmt.Errorf("secret %s has no ca.crt or tls.crt", secretName)
	}
	return out, nil
}

// removeSecret deletes the gateway's TLS Secret. It carries the protection
// label, so the label goes first (strict mode is off in the benchmark
// Katalog); without it, deletion protection, with the gateway stopped and
// failurePolicy Fail, would refuse the delete.
func (h *harness) removeSecret(ctx context.Context) error {
	ri := h.dyn.Resource(secrets).Namespace(gatewayNS)
	patch := []byte(`{"metadata":{"labels":{"orkestra.io/deletion-protection":null}}}`)
	if _, err := ri.Patch(ctx, secretName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("unlabelling the TLS Secret: %w", err)
	}
	if err := ri.Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the TLS Secret: %w", err)
	}
	return nil
}

// child is a process running this program in another mode.
type child struct {
	cmd  *exec.Cmd
	port int
	done chan struct{}
}

// startChild runs `bench mode args...` and waits until it prints "ready".
func startChild(ctx context.Context, mode string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{mode}, args...)...)
	cmd.Env = os.Environ()
	// Dies with the harness; its own process group, out of reach of a
	// Ctrl-C meant for the harness until the harness stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("bench %s exited before it was ready", mode)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, fmt.Errorf("bench %s not ready after 30s", mode)
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) stop() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
	}
}
