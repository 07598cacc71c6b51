// Package pod tells whether the process runs inside a Kubernetes pod and
// reads what the pod knows about itself (namespace, name, IP).
package pod

import (
	"fmt"
	"os"
	"strings"
)

// serviceAccountDir is where the kubelet mounts the service-account token.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Guard returns an error when the process is not inside a pod: the
// service-account token is missing or KUBERNETES_SERVICE_HOST is unset. It
// reads nothing else, so it can run before any configuration is loaded.
func Guard() error {
	var missing []string
	if st, err := os.Stat(serviceAccountDir + "/token"); err != nil || st.IsDir() {
		missing = append(missing, "no service-account token at "+serviceAccountDir+"/token")
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		missing = append(missing, "KUBERNETES_SERVICE_HOST is not set")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("ork gateway only runs inside a Kubernetes pod (%s); to try a Katalog locally use `ork gateway eval -f KATALOG --object OBJ.yaml`",
		strings.Join(missing, ", "))
}

// Info is what the pod knows about itself, from the downward API and the
// service-account mount.
type Info struct {
	Namespace string
	Name      string
	IP        string
}

// Self reads POD_NAMESPACE (else the service-account namespace file),
// POD_NAME (else the hostname) and POD_IP.
func Self() (Info, error) {
	info := Info{Namespace: os.Getenv("POD_NAMESPACE"), Name: os.Getenv("POD_NAME"), IP: os.Getenv("POD_IP")}
	if info.Namespace == "" {
		b, err := os.ReadFile(serviceAccountDir + "/namespace")
		if err != nil {
			return info, fmt.Errorf("pod namespace unknown: POD_NAMESPACE is unset and %v", err)
		}
		info.Namespace = strings.TrimSpace(string(b))
	}
	if info.Name == "" {
		info.Name, _ = os.Hostname()
	}
	return info, nil
}
