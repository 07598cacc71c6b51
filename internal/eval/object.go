package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ReadObject reads one Kubernetes object from a YAML or JSON file.
func ReadObject(name string) (map[string]any, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read object: %w", err)
	}
	defer f.Close()
	var docs [][]byte
	rd := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !bytes.Equal(bytes.TrimSpace(j), []byte("null")) { // skip empty documents
			docs = append(docs, j)
		}
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s holds %d objects; eval takes exactly one", name, len(docs))
	}
	var obj map[string]any
	if err := json.Unmarshal(docs[0], &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%s: not an object (a mapping with apiVersion, kind and metadata)", name)
	}
	if err := CheckObject(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return obj, nil
}

// CheckObject checks what eval needs of an object: apiVersion, kind and
// metadata with a name or generateName.
func CheckObject(obj map[string]any) error {
	for _, k := range []string{"apiVersion", "kind"} {
		if s, _ := obj[k].(string); s == "" {
			return fmt.Errorf("%s is missing or not a string", k)
		}
	}
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		return errors.New("metadata is missing or not a mapping")
	}
	n, _ := md["name"].(string)
	g, _ := md["generateName"].(string)
	if n == "" && g == "" {
		return errors.New("metadata.name is missing")
	}
	return nil
}

// NamespaceFrom turns an object into the Namespace of namespaceObject;
// name names it in errors.
func NamespaceFrom(name string, obj map[string]any) (*corev1.Namespace, error) {
	if obj["apiVersion"] != "v1" || obj["kind"] != "Namespace" {
		return nil, fmt.Errorf("%s: the namespace object is %s %s, want a v1 Namespace", name, obj["apiVersion"], obj["kind"])
	}
	b, _ := json.Marshal(obj)
	var ns corev1.Namespace
	if err := json.Unmarshal(b, &ns); err != nil {
		return nil, fmt.Errorf("%s: not a Namespace: %v", name, err)
	}
	return &ns, nil
}

// ReadNamespace reads the Namespace of namespaceObject from a file.
func ReadNamespace(name string) (*corev1.Namespace, error) {
	obj, err := ReadObject(name)
	if err != nil {
		return nil, err
	}
	return NamespaceFrom(name, obj)
}

func metaString(obj map[string]any, key string) string {
	md, _ := obj["metadata"].(map[string]any)
	s, _ := md[key].(string)
	return s
}
