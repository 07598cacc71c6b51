package admission

import (
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

type groupKind struct{ group, kind string }

// crdIndex finds the Katalog entry of a request; built once per policy.
type crdIndex struct {
	byKind map[groupKind]*policy.CRD // group+kind, never kind alone
	byName map[string]*policy.CRD    // plural.group, the CRD object's name
}

func indexCRDs(p *policy.Policy) crdIndex {
	ix := crdIndex{byKind: map[groupKind]*policy.CRD{}, byName: map[string]*policy.CRD{}}
	for _, c := range p.CRDs {
		ix.byKind[groupKind{c.Group, c.Kind}] = c
		ix.byName[c.CRDName()] = c
	}
	return ix
}

// forRequest is the entry whose objects req is about, nil when none.
func (ix crdIndex) forRequest(req *admissionv1.AdmissionRequest) *policy.CRD {
	return ix.byKind[groupKind{req.Kind.Group, req.Kind.Kind}]
}

// isCRD reports whether req is about a CustomResourceDefinition object.
func isCRD(req *admissionv1.AdmissionRequest) bool {
	return req.Kind.Group == "apiextensions.k8s.io" && req.Kind.Kind == "CustomResourceDefinition"
}
