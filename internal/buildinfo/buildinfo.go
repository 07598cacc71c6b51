// Package buildinfo tells which build of ork is running: the version and
// commit the linker set (else those Go embeds), the build tags and the Go
// version. `ork version` prints it; the gateway exports it as
// orkestra_gateway_build_info.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Info describes a build. Every field is set: unknown values read
// "(devel)", "unknown" or "none".
type Info struct {
	Version string
	Commit  string
	Tags    string // the -tags of the build, "none" without
	Go      string
	OS      string
	Arch    string
}

// Read is From with the running binary's build information.
func Read(version, commit string) Info {
	bi, _ := debug.ReadBuildInfo()
	return From(bi, version, commit)
}

// From fills the values the linker did not set (version, commit: empty
// when not set) from bi, which may be nil (a binary built without module
// support).
func From(bi *debug.BuildInfo, version, commit string) Info {
	info := Info{
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
