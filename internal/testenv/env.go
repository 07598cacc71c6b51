// Package testenv runs a real kube-apiserver + etcd (controller-runtime's
// envtest) for tests and dev tools, and runs real binaries "inside a pod"
// against it (see StartInPod).
//
// It is test support: import it only from _test.go files and dev tools, never
// from the gateway build.
//
// The binaries come from KUBEBUILDER_ASSETS, which `make test` sets to the
// output of hack/testenv.sh (it builds kube-apiserver and etcd once and caches
// them outside the checkout).
//
// One control plane per test package:
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) { testenv.Main(m, &env) }
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsEnv names the variable holding the directory with the kube-apiserver
// and etcd binaries (the output of hack/testenv.sh).
const AssetsEnv = "KUBEBUILDER_ASSETS"

// Env is a running control plane. All fields are set by Start; treat them as
// read-only (copy Config with rest.CopyConfig before changing it).
type Env struct {
	// Config authenticates as an admin (client certificate, group system:masters).
	Config *rest.Config
	// Host and Port of the API server's secure endpoint; Host is always 127.0.0.1.
	Host string
	Port int
	// CAPEM is the CA that signed the API server's serving certificate (what a
	// pod finds in ca.crt).
	CAPEM     []byte
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
	// Environment is the underlying envtest environment.
	Environment *envtest.Environment

	dirs     []string // envtest's work dirs, removed by Stop
	watchdog *os.File // write end of the watchdog's stdin, see startWatchdog
}

// Main is the whole TestMain of a package that needs a control plane: it
// starts one, stores it in *env, runs the tests, stops it and exits. If
// KUBEBUILDER_ASSETS is unset or the control plane cannot start, every test
// of the package fails (it does not skip: a missing environment must not look
// like a green run).
//
// A panic or a `go test -timeout` inside a test kills the test binary without
// running Main's cleanup; a watchdog process then still stops the control
// plane (see startWatchdog).
func Main(m *testing.M, env **Env) {
	os.Exit(run(m, env))
}

func run(m *testing.M, env **Env) int {
	start := time.Now()
	e, err := Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "testenv: control plane up at https://%s:%d in %s\n", e.Host, e.Port, time.Since(start).Round(time.Millisecond))
	defer func() {
		stop := time.Now()
		if err := e.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stopping the control plane: %v\n", err)
		}
		fmt.Fprintf(os.Stderr, "testenv: control plane stopped in %s\n", time.Since(stop).Round(time.Millisecond))
		removeBuildDir()
	}()
	*env = e
	return m.Run()
}

// Start starts etcd and kube-apiserver from $KUBEBUILDER_ASSETS, listening on
// 127.0.0.1 only. Call Stop when done (Main does it for you).
func Start() (*Env, error) {
	assets := os.Getenv(AssetsEnv)
	if assets == "" {
		return nil, fmt.Errorf("%s is not set: run `make test`, or `export %s=$(hack/testenv.sh)` before `go test`", AssetsEnv, AssetsEnv)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s=%s has no %s (%v): run `bash hack/testenv.sh` to build it", AssetsEnv, assets, bin, err)
		}
	}

	te := &envtest.Environment{BinaryAssetsDirectory: assets}
	args := te.ControlPlane.GetAPIServer().Configure()
	// By default the API server advertises the host's first interface address
	// and keeps the "kubernetes" Service endpoints pointing at it. Both flags
	// are needed to stay on loopback: either alone fails to start.
	args.Set("advertise-address", "127.0.0.1")
	args.Set("endpoint-reconciler-type", "none")
	// Lets Services resolve through their EndpointSlices (multi-replica tests
	// create those by hand: no controller-manager runs here).
	args.Set("enable-aggregator-routing", "true")
	// envtest already sets authorization-mode=RBAC and the service-account
	// issuer and signing keys, so TokenRequest tokens authenticate; the tests
	// of this package check both.

	before := childPIDs() // to tell our processes from those of another Env
	cfg, err := te.Start()
	if err != nil {
		// A failed Start leaves its processes and /tmp/k8s_test_framework_*
		// folders behind (envtest retries reuse them and never clean up).
		_ = te.ControlPlane.Stop()
		removeDirs(frameworkDirs(te))
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	e := &Env{Config: cfg, CAPEM: cfg.CAData, Environment: te, dirs: frameworkDirs(te)}
	if err := e.init(before); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) init(before map[string]bool) error {
	u, err := url.Parse(e.Config.Host)
	if err != nil {
		return err
	}
	e.Host = u.Hostname()
	if e.Port, err = strconv.Atoi(u.Port()); err != nil {
		return fmt.Errorf("API server URL %q: %w", e.Config.Host, err)
	}
	if ip := net.ParseIP(e.Host); ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		// envtest binds to what "localhost" resolves to; pods and the serving
		// certificate here assume 127.0.0.1.
		return fmt.Errorf("API server listens on %s, want 127.0.0.1", e.Host)
	}
	if e.Clientset, err = kubernetes.NewForConfig(e.Config); err != nil {
		return err
	}
	if e.Dynamic, err = dynamic.NewForConfig(e.Config); err != nil {
		return err
	}
	var pids []string
	for pid := range childPIDs() {
		if !before[pid] {
			pids = append(pids, pid)
		}
	}
	return e.startWatchdog(pids)
}

// Stop stops the control plane and removes its work directories.
func (e *Env) Stop() error {
	err := e.Environment.Stop()
	if e.watchdog != nil {
		if err == nil {
			_, _ = io.WriteString(e.watchdog, "stop\n") // a clean stop: the watchdog just exits
		}
		_ = e.watchdog.Close()
		e.watchdog = nil
	}
	removeDirs(e.dirs)
	return err
}

// startWatchdog starts a shell that waits for EOF on a pipe held open by this
// process. The control plane runs in its own process groups (envtest sets
// Setpgid), so when the test binary dies without calling Stop (a panic in a
// test, go test's -timeout, SIGKILL) nothing else would stop it. The watchdog
// has its own process group too, so a Ctrl-C to the test does not kill it
// before it acts.
func (e *Env) startWatchdog(pids []string) error {
	if len(pids) == 0 {
		return errors.New("cannot find the etcd and kube-apiserver processes")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	// kube-apiserver may ignore SIGTERM for long once etcd is gone, hence
	// the SIGKILL. Both are single processes; dash's kill takes no -PGID.
	const script = `read -r line; [ "$line" = stop ] && exit 0
kill -TERM $PIDS 2>/dev/null; sleep 2; kill -KILL $PIDS 2>/dev/null; rm -rf $DIRS`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdin = r
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PIDS=" + strings.Join(pids, " "), "DIRS=" + strings.Join(e.dirs, " ")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting the control plane watchdog: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it
	e.watchdog = w
	return nil
}

// childPIDs returns the PIDs of this process's etcd and kube-apiserver
// children (envtest does not expose them).
func childPIDs() map[string]bool {
	self := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	pids := map[string]bool{}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may contain spaces, so split after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		comm := s[strings.IndexByte(s, '(')+1 : i]
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 && fields[1] == self && (comm == "etcd" || comm == "kube-apiserver") {
			pids[strings.Fields(s)[0]] = true
		}
	}
	return pids
}

// frameworkDirs returns envtest's per-process work directories (certificates,
// etcd data), but only the temporary ones it created itself.
func frameworkDirs(te *envtest.Environment) []string {
	var dirs []string
	for _, d := range []string{te.ControlPlane.GetAPIServer().CertDir, etcdDataDir(te)} {
		if d != "" && filepath.Dir(d) == filepath.Clean(os.TempDir()) && strings.HasPrefix(filepath.Base(d), "k8s_test_framework_") {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func etcdDataDir(te *envtest.Environment) string {
	if te.ControlPlane.Etcd == nil {
		return ""
	}
	return te.ControlPlane.Etcd.DataDir
}

func removeDirs(dirs []string) {
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// TokenConfig returns a client config that authenticates with a bearer token
// (e.g. from ServiceAccountToken) and trusts the API server's CA.
func (e *Env) TokenConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            e.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.CAPEM},
		BearerToken:     token,
	}
}

// ImpersonatedConfig returns the admin config impersonating user and groups,
// to test RBAC decisions without minting credentials.
func (e *Env) ImpersonatedConfig(user string, groups ...string) *rest.Config {
	c := rest.CopyConfig(e.Config)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return c
}

// ServiceAccountToken creates the namespace and ServiceAccount if they are
// absent (no controller-manager runs here, so nothing else would) and returns
// a token for it from the TokenRequest API. ttl <= 0 means the API default
// (1h); the API server rejects ttl below 10 minutes.
func (e *Env) ServiceAccountToken(ctx context.Context, namespace, name string, ttl time.Duration) (string, error) {
	return e.ServiceAccountTokenFor(ctx, namespace, name, ttl)
}

// ServiceAccountTokenFor is ServiceAccountToken for the given audiences (a
// projected token's audience); none means the API server's own.
func (e *Env) ServiceAccountTokenFor(ctx context.Context, namespace, name string, ttl time.Duration, audiences ...string) (string, error) {
	if err := e.ensureServiceAccount(ctx, namespace, name); err != nil {
		return "", err
	}
	req := &authenticationv1.TokenRequest{}
	req.Spec.Audiences = audiences
	if ttl > 0 {
		secs := int64(ttl / time.Second)
		req.Spec.ExpirationSeconds = &secs
	}
	resp, err := e.Clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", namespace, name, err)
	}
	return resp.Status.Token, nil
}

func (e *Env) ensureServiceAccount(ctx context.Context, namespace, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := e.Clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := e.Clientset.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service account %s/%s: %w", namespace, name, err)
	}
	return nil
}

// BindClusterAdmin binds the ServiceAccount namespace/sa to cluster-admin, for
// tests that are not about RBAC. RBAC is enforced by an informer-fed cache,
// so the grant may take a moment to apply.
func (e *Env) BindClusterAdmin(ctx context.Context, namespace, sa string) error {
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "testenv:cluster-admin:" + namespace + ":" + sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: namespace}},
	}
	_, err := e.Clientset.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("binding %s/%s to cluster-admin: %w", namespace, sa, err)
	}
	return nil
}

// WriteKubeconfig writes an admin kubeconfig (embedded client certificate)
// for kubectl and other tools, readable by the owner only.
func (e *Env) WriteKubeconfig(path string) error {
	return os.WriteFile(path, e.Environment.KubeConfig, 0o600)
}

// HTTPClient is an HTTP client for Config (admin credentials), for the
// constructors that take a rest.Config and its client separately.
func (e *Env) HTTPClient() *http.Client {
	c, err := rest.HTTPClientFor(e.Config)
	if err != nil {
		panic(fmt.Sprintf("testenv: HTTP client for the admin config: %v", err))
	}
	return c
}
