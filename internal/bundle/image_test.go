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
	for _, tc := range []struct {
		version, want string
		ok            bool
	}{
		{"v1.2.3", ImageRepository + ":v1.2.3", true},
		{"v1.2.3-4-gabcdef-dirty", ImageRepository + ":v1.2.3-4-gabcdef-dirty", true},
		{"(devel)", ImageRepository + ":latest", false},
		{"", ImageRepository + ":latest", false},
		{"v0.0.0-20260101-abcdef+dirty", ImageRepository + ":latest", false},
	} {
		got, ok := DefaultImage(tc.version)
		if got != tc.want || ok != tc.ok {
			t.Errorf("DefaultImage(%q) = %q, %v; want %q, %v", tc.version, got, ok, tc.want, tc.ok)
		}
		if err := CheckImage(got); err != nil {
			t.Errorf("DefaultImage(%q) = %q, which CheckImage rejects: %v", tc.version, got, err)
		}
	}
}
