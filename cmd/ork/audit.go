//go:build !gateway

package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/orkspace/orkestra-gateway/internal/audit"
	"github.com/orkspace/orkestra-gateway/internal/eval"
)

type auditOptions struct {
	katalog    string
	kubeconfig string
	context    string
	namespace  string
	all        bool
	chunkSize  int64
	user       string
	groups     []string
	format     *choice
}

func newAuditCmd() *cobra.Command {
	o := auditOptions{format: newChoice("text", "text", "json", "yaml")}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Evaluate a Katalog's rules against the live objects of a cluster",
		Long: `Audit lists the live objects each Katalog entry with validation rules covers
and evaluates the rules as the gateway would on an admission CREATE of each
object and, where the entry validates updates, on an UPDATE onto itself
(what a controller's next write meets). It prints, per rule, the objects that
would be denied or warned if the Katalog were enforced now; rules in audit
mode are listed with what they would do.

It only reads: list (paged with --chunk-size) and get of namespaces for CEL
rules' namespaceObject. The cluster and credentials come from the kubeconfig
as kubectl takes them (--kubeconfig, KUBECONFIG, ~/.kube/config; --context).
Namespaced entries are listed in the context's namespace, or -n, or every
namespace with -A. Objects in kube-system and the gateway's namespace are
listed but never subject to the rules, as with the gateway.

-o json and -o yaml print a List of PolicyReport objects
(wgpolicyk8s.io/v1alpha2), one per namespace, and a ClusterPolicyReport for
cluster-scoped objects; nothing is applied.

Exit status: 0 when the audit ran (whatever it found), 1 when it could not
(the Katalog has errors, the API server refused a list), 2 on usage errors.`,
		Example: `  ork audit -f katalog.yaml -A
  ork audit -f katalog.yaml -n shop --context staging
  ork audit -f katalog.yaml -A -o yaml > policy-reports.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.katalog, "file", "f", "katalog.yaml", "Katalog file")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace of namespaced entries (default: the context's)")
	fs.BoolVarP(&o.all, "all-namespaces", "A", false, "every namespace")
	fs.Int64Var(&o.chunkSize, "chunk-size", audit.DefaultChunkSize, "objects per list call")
	fs.StringVar(&o.user, "request-user", audit.DefaultUser, "the requesting user the rules see (request.userInfo.username)")
	fs.StringArrayVar(&o.groups, "request-group", nil, "a group of the requesting user (repeatable)")
	fs.VarP(o.format, "output", "o", "output format: text, json or yaml (PolicyReports)")
	return cmd
}

func runAudit(stdout, stderr io.Writer, o auditOptions) error {
	switch {
	case o.all && o.namespace != "":
		return usageError("-n/--namespace and -A/--all-namespaces together: choose one")
	case o.chunkSize < 1:
		return usageError("--chunk-size %d: want at least 1", o.chunkSize)
	}
	if err := readable(o.katalog); err != nil {
		return usageError("%v", err)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return usageError("kubeconfig: %v", err)
	}
	// client-go's default (5 requests per second) would pace a paged list
	// of a large cluster; the audit makes one request at a time.
	cfg.QPS, cfg.Burst = 50, 100
	ns := o.namespace
	if ns == "" && !o.all {
		if ns, _, err = cc.Namespace(); err != nil {
			return usageError("kubeconfig: %v", err)
		}
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return usageError("kubeconfig: %v", err)
	}

	r, err := loadKatalog(o.katalog, stderr)
	if err != nil {
		return err
	}
	ev, err := eval.New(r.Policy, eval.Options{})
	if err != nil {
		return exitError{code: exitFailure, err: err}
	}
	rep, err := audit.Run(context.Background(), ev, client, audit.Options{
		Namespace: ns, AllNamespaces: o.all, ChunkSize: o.chunkSize, User: o.user, Groups: o.groups,
	})
	if err != nil {
		return exitError{code: exitFailure, err: err}
	}
	now := time.Now()
	switch o.format.value {
	case "json":
		return rep.WriteJSON(stdout, now)
	case "yaml":
		return rep.WriteYAML(stdout, now)
	}
	return rep.WriteText(stdout)
}
