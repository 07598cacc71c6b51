package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"
)

// The SBOM describes the gateway binaries of a release (those in its
// image): each binary is a package (file name, SHA-256) that depends on the
// Go modules it was built from, as the build information Go embeds in it
// lists them (module path, version, go.sum hash), and on the Go standard
// library of its toolchain. Modules are identified by package URL
// (pkg:golang/PATH@VERSION), which scanners match against advisories.

const (
	project        = "orkestra-gateway"
	projectModule  = "github.com/orkspace/orkestra-gateway"
	projectLicense = "Apache-2.0"
	namespaceBase  = "https://github.com/orkspace/orkestra-gateway/releases/"
	noAssertion    = "NOASSERTION"
)

// module is one Go module of a build.
type module struct {
	path, version, sum string
}

func (m module) purl() string { return "pkg:golang/" + m.path + "@" + m.version }

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// elementID is an SPDX identifier for a name: letters, digits, '.' and '-'.
func elementID(kind, name string) common.ElementID {
	return common.ElementID(kind + "-" + strings.Trim(idUnsafe.ReplaceAllString(name, "-"), "-"))
}

// gatewayMain is the main package of the binaries an SBOM describes.
const gatewayMain = projectModule + "/cmd/ork"

// sbom builds the document for the gateway binaries, builds of mainPkg.
func sbom(version string, created time.Time, mainPkg string, binaries []string) (*spdx.Document, error) {
	doc := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   project + "-" + version,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "orkestra-gateway-hack-release"}, {CreatorType: "Organization", Creator: "Orkestra"}},
			Created:  created.UTC().Format(time.RFC3339),
		},
	}
	seen := map[common.ElementID]bool{}
	inputs := sha256.New()
	for _, bin := range binaries {
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("%s: no Go build information: %w", bin, err)
		}
		if bi.Path != mainPkg {
			return nil, fmt.Errorf("%s is not a build of %s (it is %s)", bin, mainPkg, bi.Path)
		}
		platform := setting(bi, "GOOS") + "/" + setting(bi, "GOARCH")
		sum := sha256.Sum256(data)
		fmt.Fprintf(inputs, "%s %x\n", filepath.Base(bin), sum)
		binID := elementID("Package", filepath.Base(bin))
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName:             project + " (" + platform + ")",
			PackageSPDXIdentifier:   binID,
			PackageVersion:          version,
			PackageFileName:         filepath.Base(bin),
			PackageDownloadLocation: noAssertion,
			PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: hex.EncodeToString(sum[:])}},
			PackageLicenseConcluded: projectLicense,
			PackageLicenseDeclared:  projectLicense,
			PackageCopyrightText:    noAssertion,
			PrimaryPackagePurpose:   "APPLICATION",
			PackageComment:          "The gateway build of ork (go build -tags " + setting(bi, "-tags") + "), " + bi.GoVersion + ".",
		})
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(binID)), Relationship: "DESCRIBES",
		})
		mods := []module{{path: projectModule, version: version}, {path: "stdlib", version: bi.GoVersion}}
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			mods = append(mods, module{path: d.Path, version: d.Version, sum: d.Sum})
		}
		for _, m := range mods {
			id := elementID("Package", m.path+"-"+m.version)
			if !seen[id] {
				seen[id] = true
				doc.Packages = append(doc.Packages, modulePackage(m, id))
			}
			doc.Relationships = append(doc.Relationships, &spdx.Relationship{
				RefA: common.MakeDocElementID("", string(binID)), RefB: common.MakeDocElementID("", string(id)), Relationship: "DEPENDS_ON",
			})
		}
	}
	doc.DocumentNamespace = fmt.Sprintf("%s%s/sbom-%x", namespaceBase, version, inputs.Sum(nil)[:8])
	if err := spdxlib.ValidateDocument(doc); err != nil {
		return nil, err
	}
	return doc, nil
}

func modulePackage(m module, id common.ElementID) *spdx.Package {
	p := &spdx.Package{
		PackageName:             m.path,
		PackageSPDXIdentifier:   id,
		PackageVersion:          m.version,
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageCopyrightText:    noAssertion,
		PrimaryPackagePurpose:   "LIBRARY",
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: "PACKAGE-MANAGER", RefType: "purl", Locator: m.purl(),
		}},
	}
	switch m.path {
	case projectModule:
		p.PackageLicenseDeclared, p.PackageLicenseConcluded = projectLicense, projectLicense
		p.PackageDownloadLocation = "git+https://github.com/orkspace/orkestra-gateway@" + m.version
	case "stdlib":
		p.PackageLicenseDeclared, p.PackageLicenseConcluded = "BSD-3-Clause", "BSD-3-Clause"
		p.PackageDownloadLocation = "https://go.dev/dl/"
	default:
		if m.sum != "" {
			p.PackageComment = "go.sum hash " + m.sum
		}
	}
	return p
}

func setting(bi *buildinfo.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

func writeSBOM(doc *spdx.Document, w io.Writer) error {
	return spdxjson.Write(doc, w, spdxjson.Indent("  "))
}

// readSBOM parses an SPDX JSON document and validates its relationships.
func readSBOM(r io.Reader) (*spdx.Document, error) {
	doc, err := spdxjson.Read(r)
	if err != nil {
		return nil, err
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// sbomModules lists path@version of every package of the SBOM that has a
// purl, sorted.
func sbomModules(doc *spdx.Document) []string {
	var out []string
	for _, p := range doc.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				out = append(out, strings.TrimPrefix(r.Locator, "pkg:golang/"))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
