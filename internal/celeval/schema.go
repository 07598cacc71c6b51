package celeval

import (
	"encoding/json"
	"fmt"

	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// objectType is the CEL type of the entry's objects: the CRD's schema at
// the rules' version, with apiVersion, kind and the whole ObjectMeta (the
// API server publishes them for every resource, so a policy may read
// object.metadata.labels). Nil when the version has no schema.
func objectType(crd *policy.CRD) (*apiservercel.DeclType, error) {
	var props any
	for _, v := range crd.Definition.Spec.Versions {
		if v.Name == crd.Version && v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			props = v.Schema.OpenAPIV3Schema
		}
	}
	if props == nil {
		return nil, nil
	}
	// apiextensions' JSONSchemaProps and kube-openapi's Schema share their
	// JSON form.
	b, err := json.Marshal(props)
	if err != nil {
		return nil, fmt.Errorf("schema of %s %s: %w", crd.Kind, crd.Version, err)
	}
	var s spec.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("schema of %s %s: %w", crd.Kind, crd.Version, err)
	}
	if s.Properties == nil {
		s.Properties = map[string]spec.Schema{}
	}
	s.Properties["apiVersion"] = *spec.StringProperty()
	s.Properties["kind"] = *spec.StringProperty()
	s.Properties["metadata"] = objectMeta()
	t := common.SchemaDeclType(&openapi.Schema{Schema: &s}, true)
	if t == nil {
		return nil, nil
	}
	return t.MaybeAssignTypeName(crd.Kind + "_" + crd.Version), nil
}

// objectMeta is the schema of metadata as the API server publishes it.
func objectMeta() spec.Schema {
	str := *spec.StringProperty()
	date := *spec.DateTimeProperty()
	strMap := *spec.MapProperty(spec.StringProperty())
	strList := *spec.ArrayProperty(spec.StringProperty())
	owner := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"apiVersion": str, "kind": str, "name": str, "uid": str,
		"controller": *spec.BoolProperty(), "blockOwnerDeletion": *spec.BoolProperty(),
	}}}
	return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"name": str, "generateName": str, "namespace": str, "uid": str, "resourceVersion": str,
		"generation":                 *spec.Int64Property(),
		"creationTimestamp":          date,
		"deletionTimestamp":          date,
		"deletionGracePeriodSeconds": *spec.Int64Property(),
		"labels":                     strMap,
		"annotations":                strMap,
		"finalizers":                 strList,
		"ownerReferences":            *spec.ArrayProperty(&owner),
	}}}
}
