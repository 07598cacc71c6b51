//go:build !gateway

package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/report"
)

// bundleTargets are the values --for accepts.
var bundleTargets = []string{"gateway"}

// bundleFormats are the values --format accepts.
var bundleFormats = []string{"manifests", "helm"}

// image is the gateway image this ork was released with, by digest; make
// release sets it (-ldflags "-X main.image=REPOSITORY:VERSION@sha256:...").
var image string

type bundleOptions struct {
	target     string
	katalog    string
	namespace  string
	output     string
	image      string
	replicas   int
	format     string
	monitoring bool
}

func newGenerateBundleCmd() *cobra.Command {
	o := bundleOptions{katalog: "katalog.yaml", output: "-", format: "manifests"}
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Generate the manifests that install the gateway for a Katalog",
		Long: `Bundle writes everything needed to kubectl apply a working gateway for one
Katalog: Namespace, ServiceAccount, least-privilege ClusterRole and Role with
their bindings, the Katalog in a ConfigMap, Deployment, Service and
PodDisruptionBudget. The Katalog must pass the check pass first.

The namespace is -n, else gateway.namespace, else ` + bundle.DefaultNamespace + `. Replicas are
--replicas, else gateway.replicas (default 2). The image is --image; a
release of ork defaults to the image it was released with (by digest), and
a development build requires --image.

Output is one multi-document YAML stream on stdout (-o -, the default), or
one file per object in a directory (-o DIR: 01-namespace.yaml ..., and a
kustomization.yaml listing them, so the directory is a kustomize base).
--format helm writes a Helm chart into -o DIR instead: the same objects,
with the image, replicas, resources, scheduling, pod labels and annotations
and the Katalog in values.yaml, and the RBAC computed from the Katalog.
--monitoring adds a metrics Service, a ServiceMonitor and a PrometheusRule
(Prometheus Operator). The same Katalog and flags always give the same
bytes.

Exit status: 0 on success, 1 when the Katalog has errors, 2 on usage errors.`,
		Example: `  ork generate bundle --for gateway -f katalog.yaml | kubectl apply --server-side -f -
  ork generate bundle --for gateway -f katalog.yaml -n security -o deploy/ && kubectl apply -k deploy/
  ork generate bundle --for gateway -f katalog.yaml --format helm -o chart/ && helm install gw chart/ -n orkestra-system --create-namespace
  ork generate bundle --for gateway -f katalog.yaml --image registry.example.com/orkestra-gateway:v1.2.3 --replicas 3 --monitoring`,
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
	fs.StringVar(&o.image, "image", "", "gateway image reference (default: the image this ork release was built with; required for a development build)")
	fs.IntVar(&o.replicas, "replicas", 0, "number of replicas (default: gateway.replicas, else 2)")
	fs.StringVar(&o.format, "format", o.format, "manifests (YAML, and a kustomization.yaml with -o DIR) or helm (a chart, into -o DIR)")
	fs.BoolVar(&o.monitoring, "monitoring", false, "add a metrics Service, ServiceMonitor and PrometheusRule (Prometheus Operator CRDs)")
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
	case !slices.Contains(bundleFormats, o.format):
		return usageError("--format %q: want %s", o.format, strings.Join(bundleFormats, " or "))
	case o.format == "helm" && o.output == "-":
		return usageError("--format helm writes a chart directory: give it with -o DIR")
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
	bi, _ := debug.ReadBuildInfo()
	v := readBuildInfo(bi, version, commit).Version
	if o.image == "" {
		ref, err := bundle.DefaultImage(v, image)
		if err != nil {
			return usageError("%v", err)
		}
		o.image = ref
	}

	opts := bundle.Options{Namespace: o.namespace, Image: o.image, Replicas: o.replicas, Monitoring: o.monitoring}
	if o.format == "helm" {
		c, err := bundle.GenerateChart(src, opts, bundle.ChartOptions{Version: bundle.ChartVersion(v), AppVersion: v})
		if err != nil {
			return exitError{code: exitFailure, err: err}
		}
		written, err := c.WriteDir(o.output)
		if err != nil {
			return err
		}
		return printLines(stdout, written)
	}
	b, err := bundle.Generate(src, opts)
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
