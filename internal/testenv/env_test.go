package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

var env *Env

func TestMain(m *testing.M) { Main(m, &env) }

func tokenClientset(t *testing.T, token string) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.tokenConfig(token))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestControlPlane(t *testing.T) {
	if env.Host != "127.0.0.1" || env.Port == 0 || len(env.CAPEM) == 0 {
		t.Fatalf("Host=%q Port=%d len(CAPEM)=%d", env.Host, env.Port, len(env.CAPEM))
	}
	if _, err := env.Clientset.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	if _, err := env.Dynamic.Resource(nsGVR).Get(context.Background(), "kube-system", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestServiceAccountTokenAndRBAC(t *testing.T) {
	ctx := context.Background()
	token, err := env.ServiceAccountToken(ctx, "tenv-auth", "robot", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cs := tokenClientset(t, token)
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:tenv-auth:robot"; got != want {
		t.Fatalf("token authenticates as %q, want %q", got, want)
	}

	// RBAC is on: an unbound service account may not list namespaces...
	if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound service account listing namespaces: err = %v, want Forbidden", err)
	}
	// ...until bound to cluster-admin (idempotently).
	for range 2 {
		if err := env.BindClusterAdmin(ctx, "tenv-auth", "robot"); err != nil {
			t.Fatal(err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("cluster-admin binding never took effect: %v", err)
	}
}

func TestImpersonatedConfig(t *testing.T) {
	cs, err := kubernetes.NewForConfig(env.ImpersonatedConfig("alice", "devs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := review.Status.UserInfo; u.Username != "alice" || !contains(u.Groups, "devs") {
		t.Fatalf("impersonated user = %+v", u)
	}
	if _, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice listing secrets: err = %v, want Forbidden", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestWriteKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestStartWithoutAssetsFails(t *testing.T) {
	t.Setenv(AssetsEnv, "")
	if _, err := Start(); err == nil || !strings.Contains(err.Error(), "make test") {
		t.Fatalf("Start without %s: err = %v, want a hint to run make test", AssetsEnv, err)
	}
}

// A failed Start must not leave envtest's /tmp/k8s_test_framework_* folders
// behind. The fake etcd records the data dir envtest gave it, then fails.
func TestFailedStartCleansUp(t *testing.T) {
	assets := t.TempDir()
	fake := `#!/bin/sh
for a; do case $a in --help) exit 0;; --data-dir=*) echo "${a#--data-dir=}" >>"$(dirname "$0")/dirs";; esac; done
exit 1
`
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if err := os.WriteFile(filepath.Join(assets, bin), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(AssetsEnv, assets)
	if e, err := Start(); err == nil {
		_ = e.Stop()
		t.Fatal("Start with a failing etcd succeeded")
	}
	dirs, err := os.ReadFile(filepath.Join(assets, "dirs"))
	if err != nil {
		t.Fatalf("the fake etcd never ran: %v", err)
	}
	for _, d := range strings.Fields(string(dirs)) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("failed Start left %s behind (stat: %v)", d, err)
		}
	}
}

// hostLeaks returns the paths a sandbox could leak into the host's /run
// that exist now.
func hostLeaks() []string {
	var found []string
	for _, p := range []string{"/var/run/secrets/kubernetes.io", "/run/secrets/rotated", "/run/mount"} {
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	return found
}

// checkNoLeaks fails if hostLeaks finds more than it did before the sandbox ran.
func checkNoLeaks(t *testing.T, before []string) {
	t.Helper()
	if after := hostLeaks(); len(after) > len(before) {
		t.Fatalf("a sandbox created paths on the host: before %v, after %v", before, after)
	}
}

func TestSandbox(t *testing.T) {
	leaks := hostLeaks()
	if len(leaks) > 0 {
		t.Fatalf("the host already has %v: this test cannot tell whether the sandbox leaks into it", leaks)
	}
	p := env.StartInPod(t, PodOptions{
		Path: "/bin/sh",
		Args: []string{"-c", `cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo
test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo TOKEN_OK
echo $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT $POD_NAMESPACE $POD_NAME $POD_IP $EXTRA
cat /run/secrets/extra/file; echo
cmp -s /run/secrets/kubernetes.io/serviceaccount/ca.crt "$CA" && echo CA_OK
cat /run/secrets/kubernetes.io/serviceaccount/token`},
		Namespace:      "tenv-pod",
		ServiceAccount: "gateway",
		Name:           "gw-0",
		Env:            []string{"EXTRA=x1", "CA=/run/secrets/extra/ca"},
		Files: map[string][]byte{
			"/var/run/secrets/extra/file": []byte("hello"),
			"/run/secrets/extra/ca":       env.CAPEM,
		},
	})
	code, err := p.Wait(30 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit code %d, %v; output:\n%s", code, err, p.Logs())
	}
	lines := strings.Split(p.Logs(), "\n")
	want := []string{"tenv-pod", "TOKEN_OK", "127.0.0.1 " + strconv.Itoa(env.Port) + " tenv-pod gw-0 127.0.0.1 x1", "hello", "CA_OK"}
	if len(lines) < len(want)+1 || strings.Join(lines[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Fatalf("sandbox output:\n%s\nwant it to start with:\n%s", p.Logs(), strings.Join(want, "\n"))
	}
	// The token in the pod is the service account's.
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: lines[len(want)]}}
	tr, err = env.Clientset.AuthenticationV1().TokenReviews().Create(context.Background(), tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Status.Authenticated || tr.Status.User.Username != "system:serviceaccount:tenv-pod:gateway" {
		t.Fatalf("pod token review: %+v", tr.Status)
	}
	checkNoLeaks(t, leaks)
}

func TestSandboxWriteFile(t *testing.T) {
	leaks := hostLeaks()
	p := env.StartInPod(t, PodOptions{
		Path: "/bin/sh",
		Args: []string{"-c", `echo READY; while [ ! -e /run/secrets/rotated/tls.crt ]; do sleep 0.05; done; cat /run/secrets/rotated/tls.crt`},
	})
	if err := p.WaitForLog("READY", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFile("/var/run/secrets/rotated/tls.crt", []byte("NEW-CERT")); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitForLog("NEW-CERT", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	checkNoLeaks(t, leaks)
}

func TestSandboxKilledAtCleanup(t *testing.T) {
	var pid int
	t.Run("stubborn", func(t *testing.T) {
		p := env.StartInPod(t, PodOptions{
			Path: "/bin/sh",
			// Ignores SIGTERM and has a child in its process group.
			Args: []string{"-c", `trap '' TERM; echo READY; while :; do sleep 1; done`},
		})
		if err := p.WaitForLog("READY", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		pid = p.PID()
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(500 * time.Millisecond); err == nil {
			t.Fatal("the process did not ignore SIGTERM; the test proves nothing")
		}
	})
	// The subtest's cleanup SIGKILLed the whole process group. The program
	// itself is reaped by then; its orphaned child (sleep) dies and is reaped
	// by init a moment later.
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return syscall.Kill(-pid, 0) == syscall.ESRCH, nil
	})
	if err != nil {
		t.Fatalf("process group %d still exists after cleanup", pid)
	}
}
