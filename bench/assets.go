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

// WebsiteCRD is the Website CRD in group.
func WebsiteCRD(group string) string { return strings.ReplaceAll(websiteCRD, "GROUP", group) }
