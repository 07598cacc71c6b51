// Command release holds the steps of `make release` that need libraries the
// project's module does not link: the SBOM (SPDX 2.3 JSON, written with
// github.com/spdx/tools-golang), the SHA256SUMS file, and the verification
// of everything in dist/ before a release is called done.
//
//	go run -C hack/release . sbom -version v1.2.3 -out dist/sbom.spdx.json dist/ork-gateway-linux-amd64 dist/ork-gateway-linux-arm64
//	go run -C hack/release . checksums dist
//	go run -C hack/release . verify -version v1.2.3 -examples examples dist
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "sbom":
		err = sbomCmd(os.Args[2:])
	case "checksums":
		if len(os.Args) != 3 {
			usage()
		}
		err = writeChecksums(os.Args[2])
	case "verify":
		err = verifyCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "release %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: release sbom -version V -out FILE BINARY...\n       release checksums DIR\n       release verify -version V -examples DIR DIR")
	os.Exit(2)
}

func sbomCmd(args []string) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	version := fs.String("version", "", "the release version")
	out := fs.String("out", "", "the SPDX JSON file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("-version, -out and at least one gateway binary are required")
	}
	created, err := sourceDate(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	doc, err := sbom(*version, created, gatewayMain, fs.Args())
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := writeSBOM(doc, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func verifyCmd(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	version := fs.String("version", "", "the release version")
	examples := fs.String("examples", "examples", "the directory of the examples (one bundle each)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || fs.NArg() != 1 {
		return fmt.Errorf("-version and the dist directory are required")
	}
	r, err := verify(fs.Arg(0), *version, *examples)
	if err != nil {
		return err
	}
	r.print(os.Stdout)
	return nil
}

// sourceDate is the creation time of reproducible artefacts:
// SOURCE_DATE_EPOCH (seconds), else the Unix epoch.
func sourceDate(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
