// Package kubeclienttest runs the gateway's in-cluster client against a real
// API server with real service-account tokens.
package kubeclienttest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/orkspace/orkestra-gateway/internal/kubeclient"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

const namespace = "kubeclient"

var selfSubjectReviews = schema.GroupVersionResource{Group: "authentication.k8s.io", Version: "v1", Resource: "selfsubjectreviews"}

// whoami asks the API server who the client is.
func whoami(ctx context.Context, c dynamic.Interface) (string, error) {
	review := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}}
	got, err := c.Resource(selfSubjectReviews).Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	name, _, _ := unstructured.NestedString(got.Object, "status", "userInfo", "username")
	return name, nil
}

// boundToken returns a token of the ServiceAccount sa that is valid only
// while the Secret bound exists (deleting it revokes the token), as a pod's
// token is bound to its pod.
func boundToken(t *testing.T, sa, bound string) string {
	t.Helper()
	ctx := t.Context()
	if _, err := env.ServiceAccountToken(ctx, namespace, sa, 0); err != nil { // creates the namespace and the account
		t.Fatal(err)
	}
	s, err := env.Clientset.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: bound}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: s.Name, UID: s.UID},
	}}
	resp, err := env.Clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status.Token
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The kubelet rotates a pod's token and the old one stops authenticating
// (here: its bound object is deleted). The client's next request is
// answered 401 with the old token, re-reads the file and succeeds with the
// new one: the caller sees no failure, and the API server sees the new
// identity.
func TestRevokedTokenReplacedByRotatedOne(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, env.CAPEM)
	oldToken := boundToken(t, "first", "first-binding")
	writeFile(t, tokenFile, []byte(oldToken))

	cluster, err := kubeclient.New(env.Config.Host, caFile, tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	client, err := cluster.Dynamic(kubeclient.Options{UserAgent: "orkestra-gateway/test", QPS: 20, Burst: 40})
	if err != nil {
		t.Fatal(err)
	}
	if who, err := whoami(ctx, client); err != nil || who != "system:serviceaccount:kubeclient:first" {
		t.Fatalf("before rotation: %q, %v", who, err)
	}

	// The kubelet writes the new token; the old one is revoked.
	writeFile(t, tokenFile, []byte(boundToken(t, "second", "second-binding")))
	if err := env.Clientset.CoreV1().Secrets(namespace).Delete(ctx, "first-binding", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRejected(t, oldToken)

	who, err := whoami(ctx, client)
	if err != nil || who != "system:serviceaccount:kubeclient:second" {
		t.Fatalf("after rotation: %q, %v; want the rotated token's identity without an error", who, err)
	}
}

// waitRejected waits until the API server refuses tok (its authenticator
// sees the deletion of the bound object through an informer).
func waitRejected(t *testing.T, tok string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(env.TokenConfig(tok))
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if apierrors.IsUnauthorized(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token still authenticates: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
