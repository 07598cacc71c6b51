package bundle

import (
	"strings"
	"testing"
)

func TestCheckImage(t *testing.T) {
	for _, ref := range []string{
		"ghcr.io/orkspace/orkestra-gateway:v1.2.3",
		"orkestra-gateway",
		"library/busybox:1.36",
		"localhost/gw",
		"localhost:5000/team/gw:dev_1",
		"registry.example.com:5000/a/b/c",
		"[::1]:5000/gw:1",
		"gw@sha256:" + strings.Repeat("ab", 32),
		"ghcr.io/o/gw:v1@sha256:" + strings.Repeat("0", 64),
		"a__b/c--d.e_f",
	} {
		if err := CheckImage(ref); err != nil {
			t.Errorf("CheckImage(%q) = %v, want nil", ref, err)
		}
	}
	for _, tc := range []struct{ ref, want string }{
		{"", "empty"},
		{" gw", "white space"},
		{"gw :v1", "white space"},
		{"Ghcr.io/orkspace/gw", ""}, // an upper-case host is fine...
		{"ghcr.io/Orkspace/gw", `component "Orkspace"`},
		{"gw:", `tag ""`},
		{"gw:-v1", `tag "-v1"`},
		{"gw:" + strings.Repeat("x", 129), "tag"},
		{"gw@sha256:xyz", "digest"},
		{"gw@", "digest"},
		{":v1", "no repository name"},
		{"ghcr.io//gw", `component ""`},
		{"bad_host.io:x/gw", "registry host"},
		{"a/" + strings.Repeat("b", 300), "longer than 255"},
		{"gw-", `component "gw-"`},
	} {
		err := CheckImage(tc.ref)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckImage(%q) = %v, want nil", tc.ref, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckImage(%q) = %v, want an error containing %q", tc.ref, err, tc.want)
		}
	}
}

func TestDefaultImage(t *testing.T) {
	const digest = "registry.example.com/gw:v1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		version, built, want string
	}{
		{"v1.2.3", "", ImageRepository + ":v1.2.3"},
		{"v0.0.0-test", "", ImageRepository + ":v0.0.0-test"},
		{"v1.2.3-rc.1", "", ImageRepository + ":v1.2.3-rc.1"},
		{"v1.2.3", digest, digest},
		{"(devel)", digest, digest},
		{"v1.2.3-4-gabcdef0", "", ""},
		{"v1.2.3-4-gabcdef0-dirty", "", ""},
		{"v1.2.3-dirty", "", ""},
		{"5931192", "", ""},
		{"(devel)", "", ""},
		{"", "", ""},
		{"v0.0.0-20260101120000-abcdef012345", "", ""},
		{"latest", "", ""},
	} {
		got, err := DefaultImage(tc.version, tc.built)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("DefaultImage(%q, %q) = %q, %v; want %q", tc.version, tc.built, got, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "pass --image") {
			t.Errorf("DefaultImage(%q): %v does not say to pass --image", tc.version, err)
		}
		if got != "" {
			if cerr := CheckImage(got); cerr != nil {
				t.Errorf("DefaultImage(%q) = %q, which CheckImage rejects: %v", tc.version, got, cerr)
			}
		}
	}
	if _, err := DefaultImage("v1.2.3", "not an image"); err == nil {
		t.Error("a linked image that is not a reference was accepted")
	}
}
