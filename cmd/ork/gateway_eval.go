//go:build !gateway

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/conversion"
	"github.com/orkspace/orkestra-gateway/internal/eval"
	"github.com/orkspace/orkestra-gateway/internal/report"
)

func init() {
	gatewaySubcommands = append(gatewaySubcommands, newGatewayEvalCmd)
}

type evalOptions struct {
	katalog   string
	object    string
	old       string
	nsObject  string
	operation string
	namespace string
	user      string
	groups    []string
	keyFile   string
	format    report.Format
}

// evalUser is the requesting user when --user is not given.
const evalUser = eval.DefaultUser

func newGatewayEvalCmd() *cobra.Command {
	o := evalOptions{format: report.Text}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Dry-run admission: print what the gateway would answer for an object",
		Long: `Eval builds the AdmissionRequest the API server would send for an object and
runs it through every webhook of the Katalog that would match, with the
gateway's own handlers: mutating first, then validating on the mutated
object. It prints each webhook's answer (allowed or denied, message,
warnings, JSONPatch). Nothing is sent anywhere.

An object at another version than the rules are written for (a v1 Website
when the rules read v2) is converted first through the Katalog's conversion,
as the API server converts it before calling the webhooks, and the output
says so; the mutated object is converted back. A version the Katalog entry
does not declare is an error.

The operation is CREATE, or UPDATE when --old is given; for DELETE, --object
is the object being deleted. The namespace is --namespace, else the object's
metadata.namespace, else "default" for a namespaced Katalog CRD. The user is
--user (default ` + evalUser + `) with --group and system:authenticated.

CEL rules (expression:, engine native or auto) are evaluated as the API
server would, on the object as mutated, with object, oldObject, request and
namespaceObject (the Namespace given with --namespace-object; null without).

Exit status: 0 when the request would be allowed, 1 when it would be denied
or the Katalog has errors, 2 on usage errors (bad flags, unreadable or
invalid object files).`,
		Example: `  ork gateway eval -f katalog.yaml --object website.yaml
  ork gateway eval -f katalog.yaml --object new.yaml --old live.yaml --user alice --group platform
  ork gateway eval -f katalog.yaml --object ns.yaml --operation DELETE -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q: give the object with --object", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.katalog, "katalog", "f", "katalog.yaml", "Katalog file")
	fs.StringVar(&o.object, "object", "", "the object under admission (YAML or JSON); for DELETE, the object being deleted")
	fs.StringVar(&o.old, "old", "", "the object before an UPDATE (YAML or JSON)")
	fs.StringVar(&o.nsObject, "namespace-object", "", "the request's Namespace (YAML or JSON), namespaceObject of CEL rules")
	fs.StringVar(&o.operation, "operation", "", "CREATE, UPDATE or DELETE (default CREATE, or UPDATE with --old)")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the request (default: the object's)")
	fs.StringVar(&o.user, "user", evalUser, "requesting user name")
	fs.StringArrayVar(&o.groups, "group", nil, "a group of the requesting user (repeatable)")
	fs.StringVar(&o.keyFile, "conversion-key-file", "", "the gateway's conversion key (conversion.key of its TLS Secret), to verify the preserved-fields annotation of live objects")
	fs.VarP(&o.format, "output", "o", "output format: text or json")
	return cmd
}

func runEval(stdout, stderr io.Writer, o evalOptions) error {
	op, err := evalOperation(o)
	if err != nil {
		return err
	}
	if err := readable(o.katalog); err != nil {
		return usageError("%v", err)
	}
	in := eval.Input{Operation: op, Namespace: o.namespace, User: o.user, Groups: o.groups}
	if in.Object, err = eval.ReadObject(o.object); err != nil {
		return usageError("%v", err)
	}
	if o.old != "" {
		if in.OldObject, err = eval.ReadObject(o.old); err != nil {
			return usageError("%v", err)
		}
	}
	if o.nsObject != "" {
		if in.NamespaceObject, err = eval.ReadNamespace(o.nsObject); err != nil {
			return usageError("%v", err)
		}
	}

	r, err := loadKatalog(o.katalog, stderr)
	if err != nil {
		return err
	}
	// What the gateway would log while converting goes to stderr.
	opts := eval.Options{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if o.keyFile != "" {
		if opts.ConversionKey, err = readConversionKey(o.keyFile); err != nil {
			return usageError("%v", err)
		}
	}
	ev, err := eval.New(r.Policy, opts)
	if err != nil {
		return exitError{code: exitFailure, err: err}
	}
	res, err := ev.Run(context.Background(), in)
	var ie *eval.InputError
	switch {
	case errors.As(err, &ie):
		return usageError("%s", ie.Msg)
	case err != nil:
		return exitError{code: exitFailure, err: err}
	}
	if o.format == report.JSON {
		err = res.WriteJSON(stdout)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if !res.Allowed {
		return exitError{code: exitFailure, err: errReported}
	}
	return nil
}

// readConversionKey reads --conversion-key-file: the raw key, as the
// gateway's Secret holds it.
func readConversionKey(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--conversion-key-file: %w", err)
	case len(b) < conversion.MinKeyBytes || len(b) > maxConversionKeyBytes:
		return nil, fmt.Errorf("--conversion-key-file %s holds %d bytes, want %d to %d: the raw key, e.g. kubectl get secret orkestra-internal-tls -o jsonpath='{.data.conversion\\.key}' | base64 -d", name, len(b), conversion.MinKeyBytes, maxConversionKeyBytes)
	}
	return b, nil
}

// maxConversionKeyBytes bounds a key file, as the gateway bounds
// CONVERSION_KEY_FILE.
const maxConversionKeyBytes = 4 << 10

// evalOperation checks the operation against the objects given.
func evalOperation(o evalOptions) (admissionv1.Operation, error) {
	if o.object == "" {
		return "", usageError("--object is required: the object to admit (for DELETE, the object to delete)")
	}
	op := admissionv1.Operation(strings.ToUpper(o.operation))
	switch {
	case op == "" && o.old != "":
		op = admissionv1.Update
	case op == "":
		op = admissionv1.Create
	}
	switch op {
	case admissionv1.Create, admissionv1.Delete:
		if o.old != "" {
			return "", usageError("--old is only for UPDATE; for %s give just --object", op)
		}
	case admissionv1.Update:
		if o.old == "" {
			return "", usageError("UPDATE needs --old, the object before the update")
		}
	default:
		return "", usageError("--operation %q: want CREATE, UPDATE or DELETE", o.operation)
	}
	return op, nil
}

// evalJSON is the -o json document.
type evalJSON = eval.JSON
