package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
)

// Set at link time (-ldflags "-X main.version=v1.2.3 -X main.commit=abc123");
// when empty they come from the build information Go embeds.
var (
	version string
	commit  string
)

// buildInfo is what `ork version` prints.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Build   string `json:"build"`
	Tags    string `json:"tags"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// The help of `ork version`.
const (
	versionShort   = "Print the version, commit, build tags and Go version"
	versionExample = `  ork version
  ork version -o json | jq -r .version`
)

// printVersion writes what `ork version -o output` prints.
func printVersion(w io.Writer, output string) error {
	bi, _ := debug.ReadBuildInfo()
	info := readBuildInfo(bi, version, commit)
	info.Build = buildName
	switch output {
	case "text":
		return info.write(w)
	case "json", "yaml":
		b, err := json.MarshalIndent(info, "", "  ")
		if err == nil && output == "yaml" {
			b, err = yaml.JSONToYAML(b)
		} else {
			b = append(b, '\n')
		}
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return exitError{code: exitUsage, err: fmt.Errorf("--output %q: want text, json or yaml", output)}
}

// readBuildInfo fills the values the linker did not set from bi (which may
// be nil, e.g. in a binary built without module support).
func readBuildInfo(bi *debug.BuildInfo, version, commit string) buildInfo {
	i := buildinfo.From(bi, version, commit)
	return buildInfo{Version: i.Version, Commit: i.Commit, Tags: i.Tags, Go: i.Go, OS: i.OS, Arch: i.Arch}
}

func (b buildInfo) write(w io.Writer) error {
	var s strings.Builder
	fmt.Fprintf(&s, "ork %s\n", b.Version)
	fmt.Fprintf(&s, "  build:   %s\n", buildName)
	fmt.Fprintf(&s, "  commit:  %s\n", b.Commit)
	fmt.Fprintf(&s, "  tags:    %s\n", b.Tags)
	fmt.Fprintf(&s, "  go:      %s %s/%s\n", b.Go, b.OS, b.Arch)
	_, err := io.WriteString(w, s.String())
	return err
}
