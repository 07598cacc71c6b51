package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// TestPods runs examples/pods (a Katalog guarding Pods, a built-in
// resource of the core group) on its own; TestExamples runs it with the
// other examples.
func TestPods(t *testing.T) {
	ex := startExample(t, filepath.Join("..", "examples", "pods"))
	exercisePodsExample(t, ex)
	stopExample(t, ex)
}

// examplePod is a Pod the API server stores without a scheduler or kubelet.
func examplePod(name string, containers ...corev1.Container) *corev1.Pod {
	f := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: containers, AutomountServiceAccountToken: &f},
	}
}

func podContainer(name, image string, limits bool) corev1.Container {
	c := corev1.Container{Name: name, Image: image}
	if limits {
		c.Resources.Limits = corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("64Mi"),
			corev1.ResourceCPU:    resource.MustParse("100m"),
		}
	}
	return c
}

// causes returns the failing fields of an Invalid denial, in order: the
// fields of its causes (webhook engine), or those its message lists (a
// ValidatingAdmissionPolicy's denial has one cause, the whole message; the
// message lists every failing field the same way).
func causes(t *testing.T, err error) []string {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsInvalid(err) || se.ErrStatus.Details == nil {
		t.Fatalf("want a 422 Invalid denial with causes, got %v", err)
	}
	var out []string
	for _, c := range se.ErrStatus.Details.Causes {
		if c.Field == "" && strings.Contains(c.Message, "ValidatingAdmissionPolicy") {
			_, list, _ := strings.Cut(c.Message, " is invalid: ")
			for _, m := range denialField.FindAllStringSubmatch(list, -1) {
				out = append(out, m[1])
			}
			continue
		}
		out = append(out, c.Field)
	}
	return out
}

// denialField finds the fields an Invalid denial's message lists.
var denialField = regexp.MustCompile(`(?:^\[?|, )((?:spec|metadata)\.[^:, ]+): `)

// examples/pods: [*] rules with one cause per failing container, an empty
// list that passes, a condition on the user's groups, a template value and
// a mutation of every container.
func exercisePodsExample(t *testing.T, ex *example) {
	ctx := context.Background()
	// A namespace of its own per run: nothing here deletes namespaces, and
	// TestExamples and TestPods run the same exercise.
	ns := fmt.Sprintf("example-pods-%d", time.Now().UnixNano()%1_000_000)
	ensureNamespace(t, ns, nil)
	// The ServiceAccount admission plugin wants the default account, which
	// no controller creates here.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := env.Clientset.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pods := env.Clientset.CoreV1().Pods(ns)
	t.Cleanup(func() {
		_ = pods.DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	})
	good := podContainer("app", "registry.example.com/app:1.0", true)

	eventually(t, 20*time.Second, "pod rules active", func() error {
		_, err := pods.Create(ctx, examplePod("probe", podContainer("p", "docker.io/p:1", true)), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsInvalid(err) {
			return nil
		}
		return errorf("pod from docker.io: %v", err)
	})

	t.Run("a good pod is stored, every container mutated", func(t *testing.T) {
		side := podContainer("side", "registry.example.com/side:2", true)
		side.ImagePullPolicy = corev1.PullAlways
		p, err := pods.Create(ctx, examplePod("good", good, side), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if got := []corev1.PullPolicy{p.Spec.Containers[0].ImagePullPolicy, p.Spec.Containers[1].ImagePullPolicy}; !slices.Equal(got, []corev1.PullPolicy{corev1.PullIfNotPresent, corev1.PullAlways}) {
			t.Errorf("imagePullPolicy %v, want [IfNotPresent Always] (default set only where absent)", got)
		}
	})

	t.Run("one cause per failing container, with its index", func(t *testing.T) {
		_, err := pods.Create(ctx, examplePod("bad",
			good,
			podContainer("hub", "docker.io/hub:1", false),
			podContainer("latest", "registry.example.com/latest:latest", true),
		), metav1.CreateOptions{})
		got := causes(t, err)
		want := []string{
			"spec.containers[1].image",
			"spec.containers[2].image",
			"spec.containers[1].resources.limits.memory",
			"spec.containers[1].resources.limits.cpu",
		}
		if !slices.Equal(got, want) {
			t.Errorf("causes %q, want %q\n%v", got, want, err)
		}
		for _, msg := range []string{
			`spec.containers[1].image: Invalid value: "docker.io/hub:1": images come from registry.example.com`,
			`spec.containers[2].image: Invalid value: "registry.example.com/latest:latest": pin images to a version, not :latest`,
			"spec.containers[1].resources.limits.memory: every container sets a memory limit",
		} {
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("denial lacks %q:\n%v", msg, err)
			}
		}
	})

	t.Run("init containers: none passes, each present is checked", func(t *testing.T) {
		none := examplePod("no-init", good)
		none.Spec.InitContainers = []corev1.Container{}
		if _, err := pods.Create(ctx, none, metav1.CreateOptions{}); err != nil {
			t.Fatalf("a pod without init containers: %v", err)
		}
		withInit := examplePod("bad-init", good)
		withInit.Spec.InitContainers = []corev1.Container{
			podContainer("init-ok", "registry.example.com/init:1", true),
			podContainer("init-bare", "registry.example.com/init:1", false),
		}
		_, err := pods.Create(ctx, withInit, metav1.CreateOptions{})
		if got := causes(t, err); !slices.Equal(got, []string{"spec.initContainers[1].resources.limits.memory"}) {
			t.Errorf("causes %q\n%v", got, err)
		}
	})

	t.Run("the host network is for platform admins", func(t *testing.T) {
		bindGroup(t, "examples:pods")
		host := func(name string) *corev1.Pod {
			p := examplePod(name, good)
			p.Spec.HostNetwork = true
			return p
		}
		dev := impersonated(t, "dave", "examples:pods", "developers", "system:authenticated")
		_, err := dev.CoreV1().Pods(ns).Create(ctx, host("dev-host"), metav1.CreateOptions{})
		if got := causes(t, err); !slices.Equal(got, []string{"spec.hostNetwork"}) || !strings.Contains(err.Error(), "only platform admins run Pods on the host network") {
			t.Errorf("developer on the host network: %v", err)
		}
		admin := impersonated(t, "pat", "examples:pods", "platform-admins", "system:authenticated")
		if _, err := admin.CoreV1().Pods(ns).Create(ctx, host("admin-host"), metav1.CreateOptions{}); err != nil {
			t.Errorf("platform admin on the host network: %v", err)
		}
	})

	t.Run("template value: the team label names the namespace", func(t *testing.T) {
		wrong := examplePod("wrong-team", good)
		wrong.Labels = map[string]string{"team": "payments"}
		_, err := pods.Create(ctx, wrong, metav1.CreateOptions{})
		if got := causes(t, err); !slices.Equal(got, []string{"metadata.labels.team"}) || !strings.Contains(err.Error(), `Invalid value: "payments": the team label names the Pod's namespace`) {
			t.Errorf("team label of another namespace: %v", err)
		}
		right := examplePod("right-team", good)
		right.Labels = map[string]string{"team": ns}
		if _, err := pods.Create(ctx, right, metav1.CreateOptions{}); err != nil {
			t.Errorf("team label of its namespace: %v", err)
		}
	})

	t.Run("the CEL rule: the API server denies privileged containers", func(t *testing.T) {
		priv := podContainer("side", "registry.example.com/side:2", true)
		yes := true
		priv.SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		_, err := pods.Create(ctx, examplePod("privileged", good, priv), metav1.CreateOptions{})
		// engine auto: on this API server (ValidatingAdmissionPolicy
		// served) the rules are the native engine's, the CEL rule among them.
		want := "ValidatingAdmissionPolicy 'orkestra-gateway-" + ex.katalog + "-validate' with binding 'orkestra-gateway-" + ex.katalog +
			"-validate' denied request: privileged containers are not allowed: side"
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("a privileged container: want %q, got %v", want, err)
		}
		off := false
		priv.SecurityContext.Privileged = &off
		if _, err := pods.Create(ctx, examplePod("unprivileged", good, priv), metav1.CreateOptions{}); err != nil {
			t.Errorf("privileged: false: %v", err)
		}
	})

	t.Run("labelled pods cannot be deleted", func(t *testing.T) {
		p := examplePod("kept", good)
		p.Labels = protected
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() { // the Pod must not outlive the test protected
			unlabel := []byte(`{"metadata":{"labels":{"` + protectionLabel + `":null}}}`)
			if _, err := pods.Patch(ctx, "kept", types.MergePatchType, unlabel, metav1.PatchOptions{}); err != nil {
				t.Error(err)
			}
		}()
		if err := pods.Delete(ctx, "kept", metav1.DeleteOptions{}); !isForbidden(err) {
			t.Errorf("delete of a protected pod: want Forbidden, got %v", err)
		}
	})
}

// impersonated is a clientset acting as user with groups.
func impersonated(t *testing.T, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	cs, _, _ := clientsFor(t, env.ImpersonatedConfig(user, groups...))
	return cs
}
