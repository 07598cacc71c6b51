package bundle

import (
	"fmt"
	"regexp"
	"strings"
)

// ImageRepository is where release images of the gateway are published.
const ImageRepository = "ghcr.io/orkspace/orkestra-gateway"

// DefaultImage is the gateway image a build of ork installs when --image
// is not given: built, the image it was released with (make release links
// it in, by digest), else the release tag of version. A development build
// (no release version: a commit, a dirty tree, a pseudo-version) names no
// image: the error says to pass one. There is no "latest" default.
func DefaultImage(version, built string) (string, error) {
	switch {
	case built != "":
		if err := CheckImage(built); err != nil {
			return "", fmt.Errorf("the image this ork was built with: %w", err)
		}
		return built, nil
	case releaseVersion(version):
		return ImageRepository + ":" + version, nil
	}
	return "", fmt.Errorf("this ork build (version %s) is not a release and names no gateway image: pass --image, e.g. --image %s:v1.2.3 or the image `make image` built (REPOSITORY@sha256:DIGEST)", version, ImageRepository)
}

// releaseVersion reports whether version is a release's: vMAJOR.MINOR.PATCH
// with an optional pre-release, and not what git describe or Go give a
// development build (v1.2.3-4-gabcdef0, -dirty, a pseudo-version).
func releaseVersion(version string) bool {
	return releaseRE.MatchString(version) && !describeRE.MatchString(version) && !pseudoRE.MatchString(version) &&
		!strings.HasSuffix(version, "-dirty")
}

var (
	releaseRE  = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
	describeRE = regexp.MustCompile(`-\d+-g[0-9a-f]{7,}`)
	pseudoRE   = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)
)

// The grammar of github.com/distribution/reference, without the
// normalisation of short names (docker.io/library/...): a reference is
// name[:tag][@digest], the name is [domain/]path.
var (
	tagRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	domainRE    = regexp.MustCompile(`^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]+)?$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	digestRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$`)
)

// maxNameLength bounds the name part of a reference, as distribution does.
const maxNameLength = 255

// CheckImage reports, precisely, why ref is not an image reference the
// kubelet can pull.
func CheckImage(ref string) error {
	if ref == "" {
		return fmt.Errorf("the image reference is empty")
	}
	if strings.TrimSpace(ref) != ref || strings.ContainsAny(ref, " \t\r\n") {
		return fmt.Errorf("image %q: contains white space", ref)
	}
	name, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest && !digestRE.MatchString(digest) {
		return fmt.Errorf("image %q: digest %q is not algorithm:hex (e.g. sha256:<64 hex digits>)", ref, digest)
	}
	// A tag is what follows the last colon, unless that colon belongs to a
	// registry port (then a slash follows it).
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i+1:], "/") {
		tag := name[i+1:]
		name = name[:i]
		if !tagRE.MatchString(tag) {
			return fmt.Errorf("image %q: tag %q must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'", ref, tag)
		}
	}
	if name == "" {
		return fmt.Errorf("image %q: no repository name", ref)
	}
	if len(name) > maxNameLength {
		return fmt.Errorf("image %q: the repository name is longer than %d characters", ref, maxNameLength)
	}
	parts := strings.Split(name, "/")
	// The first part is a registry when it looks like a host: it has a dot
	// or a port, or is localhost.
	if first := parts[0]; len(parts) > 1 && (strings.ContainsAny(first, ".:[") || first == "localhost") {
		if !domainRE.MatchString(first) {
			return fmt.Errorf("image %q: %q is not a registry host[:port]", ref, first)
		}
		parts = parts[1:]
	}
	for _, c := range parts {
		if !componentRE.MatchString(c) {
			return fmt.Errorf("image %q: repository path component %q must be lower-case letters and digits, separated by '.', '_', '__' or '-'", ref, c)
		}
	}
	return nil
}
