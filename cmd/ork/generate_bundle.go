//go:build !gateway

package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/report"
)

// bundleTargets are the values --for accepts.
var bundleTargets = []string{"gateway"}

type bundleOptions struct {
	target    string
	katalog   string
	namespace string
	output    string
	image     string
	replicas  int
}

func newGenerateBundleCmd() *cobra.Command {
	o := bundleOptions{katalog: "katalog.yaml", output: "-"}
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Generate the manifests that install the gateway for a Katalog",
		Long: `Bundle writes everything needed to kubectl apply a working gateway for one
Katalog: Namespace, ServiceAccount, least-privilege ClusterRole and Role with
their bindings, the Katalog in a ConfigMap, Deployment, Service and
PodDisruptionBudget. The Katalog must pass the check pass first.

The namespace is -n, else gateway.namespace, else ` + bundle.DefaultNamespace + `. Replicas are
--replicas, else gateway.replicas (default 2). The image defaults to the
release of this ork build (` + bundle.ImageRepository + `:VERSION).

Output is one multi-document YAML stream on stdout (-o -, the default), or
one file per object in a directory (-o DIR: 01-namespace.yaml ...). The same
Katalog and flags always give the same bytes.

Exit status: 0 on success, 1 when the Katalog has errors, 2 on usage errors.`,
		Example: `  ork generate bundle --for gateway -f katalog.yaml | kubectl apply --server-side -f -
  ork generate bundle --for gateway -f katalog.yaml -n security -o deploy/
  ork generate bundle --for gateway -f katalog.yaml --image registry.example.com/orkestra-gateway:v1.2.3 --replicas 3`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q: give the Katalog with -f", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBundle(cmd, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.target, "for", "", "what to generate the bundle for: "+strings.Join(bundleTargets, ", "))
	fs.StringVarP(&o.katalog, "file", "f", o.katalog, "Katalog file")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the gateway (default: gateway.namespace, else "+bundle.DefaultNamespace+")")
	fs.StringVarP(&o.output, "output", "o", o.output, `"-" for stdout, or a directory to write one file per object into`)
	fs.StringVar(&o.image, "image", "", "gateway image reference (default "+bundle.ImageRepository+":VERSION)")
	fs.IntVar(&o.replicas, "replicas", 0, "number of replicas (default: gateway.replicas, else 2)")
	return cmd
}

func runBundle(cmd *cobra.Command, o bundleOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	fs := cmd.Flags()
	switch {
	case o.target == "":
		return usageError("--for is required: the supported target is %s", strings.Join(bundleTargets, ", "))
	case o.target != "gateway":
		return usageError("--for %q is not a supported target: the supported target is %s", o.target, strings.Join(bundleTargets, ", "))
	case fs.Changed("replicas") && o.replicas < 1:
		return usageError("--replicas %d: must be at least 1", o.replicas)
	case o.output == "":
		return usageError(`--output is empty: give "-" for stdout or a directory`)
	}
	if o.namespace != "" {
		if msgs := validation.IsDNS1123Label(o.namespace); len(msgs) > 0 {
			return usageError("--namespace %q: %s", o.namespace, strings.Join(msgs, "; "))
		}
	}
	if fs.Changed("image") {
		if err := bundle.CheckImage(o.image); err != nil {
			return usageError("--image: %v", err)
		}
	}
	if err := readable(o.katalog); err != nil {
		if !fs.Changed("file") {
			return usageError("%v (the default Katalog; name one with -f)", err)
		}
		return usageError("%v", err)
	}

	src, res, err := bundle.Load(o.katalog)
	if res == nil {
		return usageError("cannot read Katalog: %v", err)
	}
	if src == nil && err == nil {
		if err := report.Write(stderr, report.Text, []*check.Result{res}); err != nil {
			return err
		}
		return exitError{code: exitFailure, err: errReported}
	}
	for _, f := range res.Findings { // warnings only: the Katalog is valid
		fmt.Fprintln(stderr, f)
	}
	if err != nil {
		return exitError{code: exitFailure, err: fmt.Errorf("%s: %w", o.katalog, err)}
	}
	if ns := src.Policy.Gateway.Namespace; o.namespace != "" && ns != "" && o.namespace != ns {
		return usageError("--namespace %q contradicts gateway.namespace %q in %s: the gateway keeps its Secret and Service in %s; drop -n or change the Katalog",
			o.namespace, ns, o.katalog, ns)
	}
	if o.image == "" {
		bi, _ := debug.ReadBuildInfo()
		v := readBuildInfo(bi, version, commit).Version
		ref, ok := bundle.DefaultImage(v)
		if !ok {
			fmt.Fprintf(stderr, "note: this ork build has no release version (%s), so the bundle uses %s; pin an image with --image\n", v, ref)
		}
		o.image = ref
	}

	b, err := bundle.Generate(src, bundle.Options{Namespace: o.namespace, Image: o.image, Replicas: o.replicas})
	if err != nil {
		return exitError{code: exitFailure, err: err}
	}
	if o.output == "-" {
		_, err := stdout.Write(b.YAML())
		return err
	}
	written, err := b.WriteDir(o.output)
	if err != nil {
		return err
	}
	return printLines(stdout, written)
}

func printLines(w io.Writer, lines []string) error {
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}
