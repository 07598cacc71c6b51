package check

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// conversion checks an entry's conversion block (K16, K17) and makes the
// storage version the one rules are written against.
//
// A version with no declared path to or from the storage version is allowed,
// with a warning: conversion then carries every field over unchanged and
// only rewrites apiVersion, which is right for versions that differ in name
// only.
func (p *pass) conversion(base string, e *katalog.CRD, c *policy.CRD, def *apiextv1.CustomResourceDefinition) *policy.ConversionSpec {
	cb := base + ".conversion"
	out := p.conversionShutdown(cb, e.Conversion)
	out.Versions = p.conversionVersions(cb, e.Conversion, def)
	out.StorageVersion = p.conversionStorage(base, e, def, out.Versions)
	direct := p.conversionPaths(cb, e.Conversion, def, out)
	if s := out.StorageVersion; slices.Contains(out.Versions, s) {
		p.missingPaths(cb+".paths", s, out.Versions, direct)
		c.Version = s
	}
	if len(out.Versions) > 0 {
		c.Versions = out.Versions
	}
	return out
}

// conversionShutdown resolves updateCRD and keepOnShutdown (K22): whether
// the gateway keeps the CRD's spec.conversion, and what the last replica to
// stop does with it.
func (p *pass) conversionShutdown(cb string, cv *katalog.Conversion) *policy.ConversionSpec {
	out := &policy.ConversionSpec{UpdateCRD: boolOr(cv.UpdateCRD, true), KeepOnShutdown: boolOr(cv.KeepOnShutdown, false)}
	if cv.KeepOnShutdown != nil && !out.UpdateCRD {
		p.warnf("K22", cb+".keepOnShutdown", "remove keepOnShutdown, or set updateCRD: true",
			"keepOnShutdown has no effect with updateCRD: false: the gateway never sets, nor resets, the CRD's spec.conversion")
	}
	if g := p.pol.Gateway; out.UpdateCRD && !out.KeepOnShutdown && g.URL != nil && g.Replicas > 1 {
		// In URL mode a stopping replica cannot see the others.
		p.warnf("K22", p.firstOf(cb+".keepOnShutdown", cb+".updateCRD", cb), "set keepOnShutdown: true and reset spec.conversion yourself when uninstalling, or run one replica",
			"with gateway.url and %d replicas a stopping replica counts itself as the last and resets the CRD's spec.conversion to strategy None: during a rolling update, until the other replicas restore it (up to --sync-interval), objects are read and written at other versions unconverted", g.Replicas)
	}
	return out
}

// conversionVersions returns the versions converted between (K16): those
// declared, else the CRD file's.
func (p *pass) conversionVersions(cb string, cv *katalog.Conversion, def *apiextv1.CustomResourceDefinition) []string {
	defVersions := versionNames(def)
	if len(cv.Versions) == 0 {
		if def == nil {
			p.errorf("K16", cb, "list the versions in conversion.versions, or give a crdFile",
				"conversion declares no versions")
		}
		return defVersions
	}
	var out []string
	for i, v := range cv.Versions {
		f := fmt.Sprintf("%s.versions[%d]", cb, i)
		switch {
		case len(validation.IsDNS1035Label(v)) > 0:
			p.errorf("K16", f, "write versions as the CRD does, e.g. v1 or v1beta1",
				"version %q is not a DNS-1035 label", v)
		case slices.Contains(out, v):
			p.errorf("K16", f, "remove the duplicate", "version %s is listed twice", v)
		case def != nil && !slices.Contains(defVersions, v):
			p.errorf("K16", f, "declare only versions the CRD serves: "+strings.Join(defVersions, ", "),
				"version %s is not a version of the CRD in crdFile", v)
		default:
			out = append(out, v)
		}
	}
	return out
}

// conversionStorage returns the storage version (K16): declared, else the
// CRD file's. It must be one of versions, and apiTypes.version too.
func (p *pass) conversionStorage(base string, e *katalog.CRD, def *apiextv1.CustomResourceDefinition, versions []string) string {
	cv, cb := e.Conversion, base+".conversion"
	storage := cv.StorageVersion
	fileStorage := storageVersion(def)
	if storage == "" {
		storage = fileStorage
	}
	switch {
	case storage == "":
		p.errorf("K16", cb, "add conversion.storageVersion", "conversion.storageVersion is missing")
	case !slices.Contains(versions, storage):
		p.errorf("K16", p.firstOf(cb+".storageVersion", cb+".versions"), "use one of the declared versions: "+strings.Join(versions, ", "),
			"storageVersion %s is not a declared version", storage)
	case fileStorage != "" && storage != fileStorage:
		p.warnf("K16", cb+".storageVersion", "make storageVersion the version marked storage: true in the CRD",
			"storageVersion %s differs from the CRD file's storage version %s; rules are written against %s",
			cv.StorageVersion, fileStorage, cv.StorageVersion)
	}
	if len(versions) == 1 {
		p.warnf("K16", cb, "remove the conversion block, or declare the other versions",
			"conversion declares only version %s; there is nothing to convert", versions[0])
	}
	if v := e.APITypes; v != nil && v.Version != "" && len(versions) > 0 && !slices.Contains(versions, v.Version) {
		p.errorf("K16", base+".apiTypes.version", "use one of the conversion versions: "+strings.Join(versions, ", "),
			"apiTypes.version %s is not one of the conversion versions", v.Version)
	}
	return storage
}

// conversionPaths checks the declared paths (K16) and their mappings (K10,
// K17), adds the valid ones to out.Paths and returns the pairs they join.
func (p *pass) conversionPaths(cb string, cv *katalog.Conversion, def *apiextv1.CustomResourceDefinition, out *policy.ConversionSpec) map[[2]string]bool {
	direct := map[[2]string]bool{}
	for i, path := range cv.Paths {
		pb := fmt.Sprintf("%s.paths[%d]", cb, i)
		ok := p.pathEnds(pb, path, out.Versions)
		key := [2]string{path.From, path.To}
		if ok && direct[key] {
			p.errorf("K16", pb, "merge the two paths", "path %s -> %s is declared twice", path.From, path.To)
			ok = false
		}
		cp := policy.ConversionPath{From: path.From, To: path.To, Spec: p.mapping(pb+".spec", path.Spec, versionSchema(def, path.From), versionSchema(def, path.To))}
		if ok {
			direct[key] = true
			out.Paths = append(out.Paths, cp)
		}
	}
	return direct
}

// pathEnds reports whether a path joins two different declared versions
// (K16).
func (p *pass) pathEnds(pb string, path katalog.ConversionPath, versions []string) bool {
	ok := true
	for _, end := range []struct{ key, v string }{{"from", path.From}, {"to", path.To}} {
		switch {
		case end.v == "":
			p.errorf("K16", pb, "add "+end.key+": a declared version", "conversion path has no %s", end.key)
			ok = false
		case !slices.Contains(versions, end.v) && len(versions) > 0:
			p.errorf("K16", pb+"."+end.key, "use one of the declared versions: "+strings.Join(versions, ", "),
				"path %s version %s is not a declared version", end.key, end.v)
			ok = false
		}
	}
	if ok && path.From == path.To {
		p.errorf("K16", pb+".to", "a path joins two different versions", "path converts %s to itself", path.From)
		ok = false
	}
	return ok
}

// missingPaths warns about each version that has no direct path to or
// from the storage version (K16): its fields are carried over unchanged.
func (p *pass) missingPaths(at, storage string, versions []string, direct map[[2]string]bool) {
	for _, v := range versions {
		if v == storage {
			continue
		}
		for _, leg := range [][2]string{{v, storage}, {storage, v}} {
			if !direct[leg] {
				p.warnf("K16", at, fmt.Sprintf("add a path from %s to %s if the versions differ", leg[0], leg[1]),
					"%s -> %s has no path; fields are carried over unchanged", leg[0], leg[1])
			}
		}
	}
}

// versionSchema is the OpenAPI schema of one version in the CRD file, nil
// when unknown.
func versionSchema(def *apiextv1.CustomResourceDefinition, version string) *apiextv1.JSONSchemaProps {
	if def == nil {
		return nil
	}
	for _, v := range def.Spec.Versions {
		if v.Name == version && v.Schema != nil {
			return v.Schema.OpenAPIV3Schema
		}
	}
	return nil
}

// segment is one key of a target field path.
var segment = regexp.MustCompile(`^[A-Za-z0-9_$-]+$`)

// badSegment returns the first segment of a dot path that is not a field
// name; ok is false when every segment is fine.
func badSegment(path string) (seg string, ok bool) {
	for _, s := range strings.Split(path, ".") {
		if !segment.MatchString(s) {
			return s, true
		}
	}
	return "", false
}

// mapping checks a path's spec mapping (K10, K17) and flattens it to dot
// paths relative to the target's spec. Nested maps are always paths, never
// static map values.
func (p *pass) mapping(field string, v *katalog.Value, from, to *apiextv1.JSONSchemaProps) map[string]any {
	out := map[string]any{}
	if v == nil || v.V == nil {
		return out
	}
	m, ok := v.V.(map[string]any)
	if !ok {
		p.errorf("K17", field, `write target fields as keys, e.g. spec: {replicas: "{{ .spec.size }}"}`,
			"conversion spec is a %s, not a mapping of target fields", rules.TypeName(v.V))
		return out
	}
	var walk func(field, prefix string, m map[string]any)
	walk = func(field, prefix string, m map[string]any) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			kf := field + "." + k
			target := k
			if prefix != "" {
				target = prefix + "." + k
			}
			if bad, ok := badSegment(k); ok {
				p.errorf("K17", kf, "write target fields as dot paths of field names, e.g. template.replicas",
					"target field %q has an invalid segment %q", k, bad)
				continue
			}
			if sub, ok := m[k].(map[string]any); ok {
				walk(kf, target, sub)
				continue
			}
			if _, dup := out[target]; dup {
				p.errorf("K17", kf, "map each target field once", "target field spec.%s is mapped twice", target)
				continue
			}
			out[target] = m[k]
			if to != nil {
				if ok, at := schemaHas(to, append([]string{"spec"}, strings.Split(target, ".")...)); !ok {
					p.errorf("K17", kf, "map only fields the target version's schema declares",
						"target field spec.%s is not in the target version's schema (no %q)", target, at)
				}
			}
			if s, ok := m[k].(string); ok && strings.Contains(s, "{{") {
				p.template(kf, s, from)
			}
		}
	}
	walk(field, "", m)

	// A field cannot be both a value and the parent of another.
	targets := make([]string, 0, len(out))
	for t := range out {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for i := 0; i+1 < len(targets); i++ {
		if strings.HasPrefix(targets[i+1], targets[i]+".") {
			p.errorf("K17", field+"."+targets[i+1], "map either the field or its children",
				"target field spec.%s is inside spec.%s, which is mapped to a value", targets[i+1], targets[i])
		}
	}
	return out
}

// template parses a conversion template (K10) and checks the fields it reads
// exist in the source version (K17).
func (p *pass) template(field, text string, from *apiextv1.JSONSchemaProps) {
	t, err := rules.ParseTemplate(field, text)
	if err != nil {
		p.errorf("K10", field, "see the allowed template functions in the docs", "template does not parse: %v", err)
		return
	}
	if t == nil || t.Tree == nil {
		return
	}
	for _, chain := range rules.FieldRefs(t.Tree.Root) {
		switch {
		case from == nil && !slices.Contains(objectRoots, chain[0]):
			p.errorf("K17", field, "start at .spec, .status or .metadata of the source object",
				"template reads .%s, which is not a field of the source object", strings.Join(chain, "."))
		case from != nil:
			if ok, at := schemaHas(from, chain); !ok {
				p.errorf("K17", field, "read only fields the source version's schema declares",
					"template reads .%s, which is not in the source version's schema (no %q)", strings.Join(chain, "."), at)
			}
		}
	}
}

// objectRoots are the top-level fields of any Kubernetes object.
var objectRoots = []string{"spec", "status", "metadata", "apiVersion", "kind"}

// schemaHas reports whether a field chain exists in a schema; at is the first
// missing segment. Where the schema does not pin the shape down (no
// properties, preserved unknown fields, additionalProperties, metadata) any
// field is accepted.
func schemaHas(s *apiextv1.JSONSchemaProps, chain []string) (ok bool, at string) {
	if len(chain) > 0 && !slices.Contains(objectRoots, chain[0]) {
		return false, chain[0]
	}
	if len(chain) > 0 && chain[0] != "spec" && chain[0] != "status" {
		return true, ""
	}
	for _, seg := range chain {
		if s == nil || (s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields) {
			return true, ""
		}
		if child, ok := s.Properties[seg]; ok {
			s = &child
			continue
		}
		if s.AdditionalProperties != nil && (s.AdditionalProperties.Allows || s.AdditionalProperties.Schema != nil) {
			s = s.AdditionalProperties.Schema
			continue
		}
		if len(s.Properties) == 0 {
			return true, ""
		}
		return false, seg
	}
	return true, ""
}
