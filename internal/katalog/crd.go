package katalog

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

const crdAPIVersion = "apiextensions.k8s.io/v1"

// LoadCRD reads the CustomResourceDefinition that a CRD entry's crdFile
// names. A relative crdFile is resolved against the Katalog file's
// directory; the resolved path is returned (also with an error) for
// messages.
func LoadCRD(katalogPath, crdFile string) (*apiextv1.CustomResourceDefinition, string, error) {
	if crdFile == "" {
		return nil, "", errors.New("crdFile is empty")
	}
	resolved := crdFile
	if !filepath.IsAbs(crdFile) {
		resolved = filepath.Join(filepath.Dir(katalogPath), crdFile)
	}
	data, err := ReadFile(resolved)
	if err != nil {
		return nil, resolved, err
	}
	crd, err := ParseCRD(data)
	if err != nil {
		return nil, resolved, fmt.Errorf("%s: %w", resolved, err)
	}
	return crd, resolved, nil
}

// ParseCRD strictly decodes one apiextensions.k8s.io/v1
// CustomResourceDefinition, keeping every version and its schema.
func ParseCRD(data []byte) (*apiextv1.CustomResourceDefinition, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d MiB", MaxFileSize>>20)
	}
	if err := oneDocument(data); err != nil {
		return nil, err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := sigsyaml.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %s", tidy(err))
	}
	switch {
	case head.Kind != "CustomResourceDefinition":
		return nil, fmt.Errorf("kind is %q, want CustomResourceDefinition", head.Kind)
	case head.APIVersion != crdAPIVersion:
		return nil, fmt.Errorf("apiVersion is %q, want %s (v1beta1 CRDs were removed in Kubernetes 1.22)", head.APIVersion, crdAPIVersion)
	}
	var crd apiextv1.CustomResourceDefinition
	if err := sigsyaml.UnmarshalStrict(data, &crd); err != nil {
		return nil, fmt.Errorf("invalid CustomResourceDefinition: %s", tidy(err))
	}
	return &crd, nil
}

// tidy drops the layers sigs.k8s.io/yaml wraps around the actual problem.
func tidy(err error) string {
	return strings.NewReplacer(
		"error converting YAML to JSON: ", "",
		"error unmarshaling JSON: ", "",
		"while decoding JSON: ", "",
		"json: ", "",
		"yaml: ", "",
	).Replace(err.Error())
}

// oneDocument checks that data is valid YAML holding exactly one non-empty
// document; sigs.k8s.io/yaml would silently read only the first.
func oneDocument(data []byte) error {
	var first, second *yaml.Node
	err := documents(data, func(doc *yaml.Node) bool {
		if first == nil {
			first = doc
			return true
		}
		second = doc
		return false
	})
	switch {
	case err != nil:
		return fmt.Errorf("YAML syntax error: %w", err)
	case second != nil:
		return fmt.Errorf("holds more than one YAML document (a second starts at line %d); want exactly one CustomResourceDefinition", second.Line)
	case first == nil:
		return errors.New("empty file; want a CustomResourceDefinition")
	}
	return nil
}
