package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at link time (-ldflags "-X main.version=v1.2.3 -X main.commit=abc123");
// when empty they come from the build information Go embeds.
var (
	version string
	commit  string
)

// buildInfo is what `ork version` prints.
type buildInfo struct {
	Version string
	Commit  string
	Tags    string
	Go      string
	OS      string
	Arch    string
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build tags and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			return readBuildInfo(bi, version, commit).write(cmd.OutOrStdout())
		},
	}
}

// readBuildInfo fills the values the linker did not set from bi (which may
// be nil, e.g. in a binary built without module support).
func readBuildInfo(bi *debug.BuildInfo, version, commit string) buildInfo {
	info := buildInfo{
		Version: version,
		Commit:  commit,
		Go:      runtime.Version(),
		OS:      runtime.GOOS,
		Arch:    runtime.GOARCH,
	}
	if bi != nil {
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			info.Go = bi.GoVersion
		}
		var revision, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			case "-tags":
				info.Tags = s.Value
			}
		}
		if info.Commit == "" && revision != "" {
			info.Commit = revision
			if modified == "true" {
				info.Commit += "-dirty"
			}
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Tags == "" {
		info.Tags = "none"
	}
	return info
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
