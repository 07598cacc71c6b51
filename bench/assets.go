package bench

import (
	_ "embed"
	"strings"
)

// The benchmark's Katalog, CRDs and ValidatingAdmissionPolicy.
var (
	//go:embed assets/katalog.yaml
	katalogTemplate string
	//go:embed assets/website-crd.yaml
	websiteCRD string
	//go:embed assets/gadget-crd.yaml
	GadgetCRD string
	//go:embed assets/vap.yaml
	VAP string
)

// Katalog is the benchmark Katalog registering the gateway at url
// (https://127.0.0.1:PORT).
func Katalog(url string) string { return strings.ReplaceAll(katalogTemplate, "{{URL}}", url) }

// NativeKatalog is the benchmark Katalog's Website entry (the same ten
// rules) on engine native, for the copy of the CRD in GroupNative: the
// gateway registers the rules as policies and is not called on creates.
// Its failure policy is the hand-written ValidatingAdmissionPolicy's.
func NativeKatalog(url string) string {
	const from, to = "      validation:\n        rules:\n", "    gadget:\n"
	i := strings.Index(katalogTemplate, from)
	j := strings.Index(katalogTemplate, to)
	if i < 0 || j < i {
		panic("assets/katalog.yaml: no Website validation rules to copy")
	}
	return `# Written by the benchmark from assets/katalog.yaml: its Website rules on
# engine native.
apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: bench-native
gateway:
  standalone: true
  namespace: orkestra-system
  url: "` + url + `"
security:
  webhooks:
    admission:
      enabled: true
      engine: native
    failurePolicy: Fail
spec:
  crds:
    website:
      crdFile: ./crds/website.yaml
      webhooks:
        validation: true
        mutation: false
        operations: [CREATE, UPDATE]
` + katalogTemplate[i:j]
}

// WebsiteCRD is the Website CRD in group.
func WebsiteCRD(group string) string { return strings.ReplaceAll(websiteCRD, "GROUP", group) }
