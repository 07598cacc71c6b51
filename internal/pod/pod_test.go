package pod

import (
	"os"
	"strings"
	"testing"
)

// The tests run on a host, not in a pod: the guard must say so, naming what
// is missing and what to use instead.
func TestGuardOutsidePod(t *testing.T) {
	if _, err := os.Stat(serviceAccountDir + "/token"); err == nil {
		t.Fatalf("%s/token exists on this host: tests must never create it", serviceAccountDir)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	err := Guard()
	if err == nil {
		t.Fatal("no error outside a pod")
	}
	for _, want := range []string{"only runs inside a Kubernetes pod", "no service-account token", "KUBERNETES_SERVICE_HOST is not set", "ork gateway eval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	// The host variable alone is not enough.
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	if err := Guard(); err == nil || strings.Contains(err.Error(), "KUBERNETES_SERVICE_HOST") {
		t.Errorf("with the host set: %v", err)
	}
}

func TestSelfFromEnv(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "gw-ns")
	t.Setenv("POD_NAME", "gw-0")
	t.Setenv("POD_IP", "10.1.2.3")
	got, err := Self()
	if err != nil || got != (Info{Namespace: "gw-ns", Name: "gw-0", IP: "10.1.2.3"}) {
		t.Fatalf("Self() = %+v, %v", got, err)
	}
	t.Setenv("POD_NAMESPACE", "")
	if _, err := Self(); err == nil || !strings.Contains(err.Error(), "POD_NAMESPACE is unset") {
		t.Errorf("without a namespace: %v", err)
	}
}
