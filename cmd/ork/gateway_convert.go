//go:build !gateway

package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/conversion"
)

func init() {
	gatewaySubcommands = append(gatewaySubcommands, newGatewayConvertCmd)
}

type convertOptions struct {
	katalog string
	object  string
	to      string
}

func newGatewayConvertCmd() *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Dry-run conversion: print an object converted to another version",
		Long: `Convert sends one object through the gateway's /convert code path, in a
ConversionReview as the API server would, and prints the converted object as
YAML. The object's CRD must be a Katalog entry with a conversion block.

--to is a version (v2) or a full apiVersion (example.com/v2) of the object's
group. What the target version cannot hold is kept in the annotation
` + conversion.PreservedAnnotation + `; converting the printed
object back with this command restores the original. The annotation is
sealed with a local key: a gateway ignores it (its key is in its TLS
Secret), so do not apply converted output to a cluster.

Exit status: 0 when the object converts, 1 when the conversion fails or the
Katalog has errors, 2 on usage errors (bad flags, unreadable or invalid
object files).`,
		Example: `  ork gateway convert -f katalog.yaml --object website-v1.yaml --to v2
  ork gateway convert -f katalog.yaml --object - --to web.example.com/v1 < live.yaml`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q: give the object with --object", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConvert(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.katalog, "katalog", "f", "katalog.yaml", "Katalog file")
	fs.StringVar(&o.object, "object", "", `the object to convert (YAML or JSON; "-" for standard input)`)
	fs.StringVar(&o.to, "to", "", "the version to convert to: v2, or group/v2")
	return cmd
}

func runConvert(stdin io.Reader, stdout, stderr io.Writer, o convertOptions) error {
	switch {
	case o.object == "":
		return usageError("--object is required: the object to convert")
	case o.to == "":
		return usageError("--to is required: the version to convert to, e.g. v2")
	}
	if err := readable(o.katalog); err != nil {
		return usageError("%v", err)
	}
	raw, apiVersion, err := readConvertObject(stdin, o.object)
	if err != nil {
		return usageError("%v", err)
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	desired, err := desiredVersion(group, o.to)
	if err != nil {
		return usageError("%v", err)
	}

	r, err := loadKatalog(o.katalog, stderr)
	if err != nil {
		return err
	}

	// Warnings (preserved fields dropped, a malformed annotation ignored)
	// go to stderr as the gateway would log them.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	conv, err := conversion.New(r.Policy, conversion.Options{Logger: log, Key: localConversionKey})
	if err != nil {
		return exitError{code: exitFailure, err: err}
	}
	resp := conv.Review(&apiextv1.ConversionRequest{
		UID:               "ork-gateway-convert",
		DesiredAPIVersion: desired,
		Objects:           []runtime.RawExtension{{Raw: raw}},
	})
	if resp.Result.Status != metav1.StatusSuccess {
		return exitError{code: exitFailure, err: errors.New(resp.Result.Message)}
	}
	out, err := yaml.JSONToYAML(resp.ConvertedObjects[0].Raw)
	if err != nil {
		return exitError{code: exitFailure, err: fmt.Errorf("cannot print the converted object: %v", err)}
	}
	_, err = stdout.Write(out)
	return err
}

// localConversionKey seals the preserved-fields annotations of `ork gateway
// convert`, so that one run's output converts back in another. It is public
// (this source), so these annotations authenticate nothing: a gateway, keyed
// by its TLS Secret, never accepts them, and the command only ever reads
// what its user gives it.
func localConversionKey() []byte {
	k := sha256.Sum256([]byte("ork gateway convert: a local key, not a secret"))
	return k[:]
}

// desiredVersion turns --to into an apiVersion of group.
func desiredVersion(group, to string) (string, error) {
	g, v, full := strings.Cut(to, "/")
	switch {
	case !full && to != "":
		return group + "/" + to, nil
	case g == "" || v == "" || strings.Contains(v, "/"):
		return "", fmt.Errorf("--to %q: want a version (v2) or group/version", to)
	case g != group:
		return "", fmt.Errorf("--to %s: the object's group is %s; conversion changes the version only", to, group)
	}
	return to, nil
}

// readConvertObject reads one object from a YAML or JSON file ("-":
// stdin) and returns it as JSON with its apiVersion.
func readConvertObject(stdin io.Reader, name string) (raw []byte, apiVersion string, err error) {
	var in io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, "", fmt.Errorf("cannot read object: %w", err)
		}
		defer f.Close()
		in = f
	} else {
		name = "standard input"
	}
	var docs [][]byte
	rd := utilyaml.NewYAMLReader(bufio.NewReader(in))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		if t := bytes.TrimSpace(j); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
			docs = append(docs, t)
		}
	}
	if len(docs) != 1 {
		return nil, "", fmt.Errorf("%s holds %d objects; convert takes exactly one", name, len(docs))
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if docs[0][0] != '{' || json.Unmarshal(docs[0], &head) != nil {
		return nil, "", fmt.Errorf("%s: not an object (a mapping with apiVersion, kind and metadata)", name)
	}
	if g, v, ok := strings.Cut(head.APIVersion, "/"); !ok || g == "" || v == "" {
		return nil, "", fmt.Errorf("%s: apiVersion %q is not group/version; only custom resources convert", name, head.APIVersion)
	}
	if head.Kind == "" {
		return nil, "", fmt.Errorf("%s: kind is missing", name)
	}
	return docs[0], head.APIVersion, nil
}
