package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v2.0.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "feedface"}, {Key: "vcs.modified", Value: "true"}, {Key: "-tags", Value: "gateway"},
	}}
	for _, c := range []struct {
		name            string
		bi              *debug.BuildInfo
		version, commit string
		want            Info
	}{
		{"linker values win", bi, "v1.2.3", "abc", Info{Version: "v1.2.3", Commit: "abc", Tags: "gateway", Go: "go1.99.1"}},
		{"from the build information", bi, "", "", Info{Version: "v2.0.0", Commit: "feedface-dirty", Tags: "gateway", Go: "go1.99.1"}},
		{"nothing known", nil, "", "", Info{Version: "(devel)", Commit: "unknown", Tags: "none", Go: runtime.Version()}},
	} {
		c.want.OS, c.want.Arch = runtime.GOOS, runtime.GOARCH
		if got := From(c.bi, c.version, c.commit); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
