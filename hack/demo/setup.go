package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// Where the demo's gateway runs and who may notify it (the example's
// allowedCallers).
const (
	gatewayNamespace = "orkestra-system"
	gatewaySA        = "gateway"
	callerSA         = "alert-forwarder"
	smtpPasswordFile = "/var/run/secrets/orkestra/smtp/password"
	gatewaySecret    = "orkestra-internal-tls"
)

// demo is one run: what it started, to stop it, and the walkthrough's tally.
type demo struct {
	root           string // the repository
	out            io.Writer
	nonInteractive bool
	orkBin         string
	gatewayBin     string
	start          time.Time

	dir        string // everything the demo writes; removed at the end
	env        *testenv.Env
	kubeconfig string
	katalog    string
	mail       *mailpit
	slack      *slackReceiver
	gateway    *testenv.Process
	gatewayLog string
	ports      struct{ webhook, notify, probe int }
	caPEM      []byte // the gateway's CA (its Secret's ca.crt)

	cleanups []cleanup

	clients       *clients // the kubeconfig's admin: system:masters
	dana          *clients // cluster-admin through a group, not break-glass
	checks        int
	failed        int
	stepFailed    bool
	walkthroughOn bool // Slack messages are printed once the walkthrough is over
	printMu       sync.Mutex
}

type cleanup struct {
	what string
	fn   func() error
}

// onCleanup registers fn; cleanup runs them in reverse order.
func (d *demo) onCleanup(what string, fn func() error) {
	d.cleanups = append(d.cleanups, cleanup{what, fn})
}

func (d *demo) cleanup() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		c := d.cleanups[i]
		start := time.Now()
		err := c.fn()
		if err != nil {
			d.printf("demo: %s: %v\n", c.what, err)
		} else {
			d.printf("demo: %s (%s)\n", c.what, round(time.Since(start)))
		}
	}
	d.cleanups = nil
}

func (d *demo) printf(format string, args ...any) {
	d.printMu.Lock()
	defer d.printMu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// logf prints one set-up line.
func (d *demo) logf(format string, args ...any) {
	d.printf("demo: "+format+"\n", args...)
}

func (d *demo) setup(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "orkestra-demo-"); err != nil {
		return err
	}
	dir := d.dir
	d.onCleanup("removed "+dir, func() error { return os.RemoveAll(dir) })
	d.logf("working directory %s (removed at the end)", dir)

	if err := d.buildBinaries(ctx); err != nil {
		return err
	}
	if err := d.startControlPlane(ctx); err != nil {
		return err
	}
	if err := d.startReceivers(ctx); err != nil {
		return err
	}
	if err := d.writeKatalog(ctx); err != nil {
		return err
	}
	if err := d.prepareCluster(ctx); err != nil {
		return err
	}
	return d.startGateway(ctx)
}

func (d *demo) buildBinaries(ctx context.Context) error {
	for _, b := range []struct {
		bin  *string
		name string
		tags string
	}{
		{&d.orkBin, "ork", ""},
		{&d.gatewayBin, "ork-gateway", "gateway"},
	} {
		if *b.bin != "" {
			abs, err := filepath.Abs(*b.bin)
			if err != nil {
				return err
			}
			if _, err := os.Stat(abs); err != nil {
				return fmt.Errorf("--%s: %w", strings.TrimPrefix(b.name, "ork-"), err)
			}
			*b.bin = abs
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		what := "go build ./cmd/ork"
		if b.tags != "" {
			what = "go build -tags " + b.tags + " ./cmd/ork"
		}
		d.logf("building %s (%s)...", b.name, what)
		*b.bin = filepath.Join(d.dir, "bin", b.name)
		if err := testenv.BuildBinary(*b.bin, b.tags); err != nil {
			return err
		}
		d.logf("built %s in %s", b.name, round(time.Since(start)))
	}
	return nil
}

func (d *demo) startControlPlane(ctx context.Context) error {
	if os.Getenv(testenv.AssetsEnv) == "" {
		d.logf("obtaining kube-apiserver and etcd (hack/testenv.sh): cached after the first build, which compiles them from the Go module proxy and takes about 10 minutes on 2 cores")
	}
	assets, err := d.cachedTool(ctx, testenv.AssetsEnv, "hack/testenv.sh")
	if err != nil {
		return err
	}
	if err := os.Setenv(testenv.AssetsEnv, assets); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	d.logf("starting etcd and kube-apiserver on 127.0.0.1...")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	d.env = env
	d.onCleanup("stopped kube-apiserver and etcd, removed their directories", env.Stop)
	d.logf("control plane up at https://%s:%d in %s", env.Host, env.Port, round(time.Since(start)))
	d.kubeconfig = filepath.Join(d.dir, "kubeconfig")
	if err := env.WriteKubeconfig(d.kubeconfig); err != nil {
		return err
	}
	d.logf("kubeconfig (admin, group system:masters): %s", d.kubeconfig)
	if d.clients, err = newClients(env.Config); err != nil {
		return err
	}
	d.dana, err = newClients(env.ImpersonatedConfig("dana", "demo:admins", "system:authenticated"))
	return err
}

func (d *demo) startReceivers(ctx context.Context) error {
	bin, err := d.cachedTool(ctx, "ORK_MAILPIT", "hack/mailpit.sh")
	if err != nil {
		return err
	}
	mdir := filepath.Join(d.dir, "mailpit")
	if err := os.Mkdir(mdir, 0o700); err != nil {
		return err
	}
	if d.mail, err = startMailpit(bin, mdir); err != nil {
		return err
	}
	d.onCleanup("stopped mailpit", func() error { d.mail.stop(); return nil })
	d.logf("mailpit (SMTP with STARTTLS and AUTH) on 127.0.0.1:%d, web UI %s", d.mail.SMTPPort, d.mail.UI())
	if d.slack, err = startSlack(d.onSlack); err != nil {
		return err
	}
	d.onCleanup("stopped the Slack receiver", func() error { d.slack.close(); return nil })
	d.logf("Slack-like webhook receiver at %s", d.slack.url)
	return nil
}

// onSlack prints Slack messages that arrive after the walkthrough, so a
// user trying /notify sees them.
func (d *demo) onSlack(m slackMessage) {
	d.printMu.Lock()
	on := d.walkthroughOn
	d.printMu.Unlock()
	if on {
		d.printf("slack: #%s: %s\n", m.Hook, m.Text)
	}
}

func (d *demo) writeKatalog(ctx context.Context) error {
	var err error
	for _, p := range []*int{&d.ports.webhook, &d.ports.notify, &d.ports.probe} {
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	d.katalog, err = writeKatalog(d.root, filepath.Join(d.dir, "katalog"), katalogSettings{
		URL:        fmt.Sprintf("https://127.0.0.1:%d", d.ports.webhook),
		SMTPHost:   "127.0.0.1",
		SMTPPort:   d.mail.SMTPPort,
		SMTPCAFile: d.mail.CAFile,
	})
	if err != nil {
		return err
	}
	d.logf("demo Katalog %s: examples/gateway/katalog.yaml + the website entry of examples/website", d.katalog)
	// The same check pass the gateway runs at start-up, through the CLI.
	out, err := exec.CommandContext(ctx, d.orkBin, "validate", "-f", d.katalog).CombinedOutput()
	d.printf("   $ ork validate -f %s\n%s", d.katalog, indent(string(out)))
	if err != nil {
		return fmt.Errorf("ork validate: %w", err)
	}
	return nil
}

// prepareCluster creates what a real installation would have: the Website
// CRD, the namespaces of the walkthrough, the gateway's and the caller's
// ServiceAccounts, and a group that is cluster-admin but not break-glass.
func (d *demo) prepareCluster(ctx context.Context) error {
	crdYAML, err := os.ReadFile(filepath.Join(d.root, "examples", "website", "crds", "website.yaml"))
	if err != nil {
		return err
	}
	var crd apiextv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(crdYAML, &crd); err != nil {
		return fmt.Errorf("examples/website/crds/website.yaml: %w", err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&crd)
	if err != nil {
		return err
	}
	crds := d.clients.dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	if _, err := crds.Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the Website CRD: %w", err)
	}
	d.logf("created CRD %s (kubectl apply -f examples/website/crds/website.yaml)", crd.Name)
	for _, ns := range []string{"demo", "web-shop"} {
		if err := d.createNamespace(ctx, ns); err != nil {
			return err
		}
	}
	// RBAC is not what the demo is about: the bundle's least-privilege
	// roles are tested by the e2e bundle test.
	if err := d.env.BindClusterAdmin(ctx, gatewayNamespace, gatewaySA); err != nil {
		return err
	}
	if _, err := d.env.ServiceAccountToken(ctx, gatewayNamespace, callerSA, 0); err != nil {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-admins"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "demo:admins"}},
	}
	if _, err := d.clients.cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		return err
	}
	d.logf("namespaces demo and web-shop; ServiceAccounts %s/%s (cluster-admin) and %s/%s (the notification caller); group demo:admins is cluster-admin",
		gatewayNamespace, gatewaySA, gatewayNamespace, callerSA)
	// The API server starts serving a new CRD a moment after creating it.
	return poll(ctx, 30*time.Second, "websites served", func() error {
		_, err := d.clients.dyn.Resource(websites("v2")).Namespace("web-shop").List(ctx, metav1.ListOptions{})
		return err
	})
}

func (d *demo) createNamespace(ctx context.Context, name string) error {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	_, err := d.clients.dyn.Resource(namespacesGVR).Create(ctx, u, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	return nil
}

func (d *demo) startGateway(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.gatewayLog = filepath.Join(d.dir, "gateway.log")
	logFile, err := os.Create(d.gatewayLog)
	if err != nil {
		return err
	}
	args := []string{"gateway", "-f", d.katalog,
		"--webhook-port", strconv.Itoa(d.ports.webhook),
		"--notify-port", strconv.Itoa(d.ports.notify),
		"--probe-port", strconv.Itoa(d.ports.probe),
		// A deleted or edited registration comes back within 10s.
		"--sync-interval", "10s",
		// Not less: the registrations are removed within the same
		// deadline, after http.Server.Shutdown, which waits up to 5s for a
		// connection the API server has opened but not used yet.
		"--drain-timeout", "10s",
		"--log-format", "text",
	}
	start := time.Now()
	p, err := d.env.StartPod(testenv.PodOptions{
		Path:           d.gatewayBin,
		Args:           args,
		Namespace:      gatewayNamespace,
		ServiceAccount: gatewaySA,
		Name:           "orkestra-gateway-demo",
		// The example's secret references, with the demo's values: an
		// environment variable and a mounted file, as in a real pod.
		Env: []string{
			"SMTP_USERNAME=" + d.mail.User,
			"SLACK_WEBHOOK_URL=" + d.slack.WebhookURL("security-alerts"),
		},
		Files: map[string][]byte{smtpPasswordFile: []byte(d.mail.Password + "\n")},
		Log:   logFile,
	})
	if err != nil {
		logFile.Close()
		return err
	}
	d.gateway = p
	d.onCleanup("stopped the gateway (SIGTERM): it removed its webhook configurations, and its sandbox's mounts went with it", func() error {
		defer logFile.Close()
		code, err := p.Stop(20 * time.Second)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("the gateway exited with code %d:\n%s", code, indent(lastLines(p.Logs(), 20)))
		}
		// cleanupOnShutdown: the last replica removes its registrations.
		if n, err := d.registrations(context.Background()); err != nil || n > 0 {
			return fmt.Errorf("the gateway stopped but %d of its webhook configurations remain (%v):\n%s", n, err, indent(lastLines(p.Logs(), 20)))
		}
		return nil
	})
	d.logf("gateway %s started in a pod sandbox as %s/%s; log: %s", filepath.Base(d.gatewayBin), gatewayNamespace, gatewaySA, d.gatewayLog)
	d.printf("   $ ork gateway %s\n", strings.Join(args[1:], " "))

	if err := poll(ctx, 30*time.Second, "gateway ready", func() error {
		select {
		case <-p.Done():
			return errStop{fmt.Errorf("the gateway exited:\n%s", p.Logs())}
		default:
		}
		return d.probe("/readyz")
	}); err != nil {
		return err
	}
	d.logf("gateway ready (/readyz 200) %s after start: webhooks https://127.0.0.1:%d, notify https://127.0.0.1:%d, probes http://127.0.0.1:%d",
		round(time.Since(start)), d.ports.webhook, d.ports.notify, d.ports.probe)

	sec, err := d.clients.cs.CoreV1().Secrets(gatewayNamespace).Get(ctx, gatewaySecret, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the gateway's TLS Secret: %w", err)
	}
	d.caPEM = sec.Data["ca.crt"]
	if err := os.WriteFile(filepath.Join(d.dir, "gateway-ca.crt"), d.caPEM, 0o644); err != nil {
		return err
	}
	// Registration propagates to the API server asynchronously.
	if err := d.waitProtection(ctx); err != nil {
		return err
	}
	if err := d.waitConversion(ctx); err != nil {
		return err
	}
	d.clients.warn.take() // the set-up's (v1 is deprecated), not the walkthrough's
	d.logf("set-up done in %s", round(time.Since(d.start)))
	return nil
}

// probe GETs a probe path; nil when it answers 200.
func (d *demo) probe(path string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", d.ports.probe, path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// waitProtection waits until the API server calls the deletion-protection
// webhook: a dry-run delete of a protected object is denied.
func (d *demo) waitProtection(ctx context.Context) error {
	cms := d.clients.cs.CoreV1().ConfigMaps("demo")
	if _, err := cms.Create(ctx, configMap("probe", protectedLabels()), metav1.CreateOptions{}); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, "deletion protection active", func() error {
		err := cms.Delete(ctx, "probe", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsForbidden(err) {
			return nil
		}
		return fmt.Errorf("dry-run delete of a protected ConfigMap: %v", err)
	})
}

// waitConversion waits until the gateway has pointed the CRD's conversion
// at its /convert (updateCRD: true) and the API server uses it.
func (d *demo) waitConversion(ctx context.Context) error {
	crds := d.clients.dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	want := fmt.Sprintf("https://127.0.0.1:%d/convert", d.ports.webhook)
	err := poll(ctx, 30*time.Second, "the CRD's conversion set by the gateway", func() error {
		u, err := crds.Get(ctx, "websites.web.example.com", metav1.GetOptions{})
		if err != nil {
			return err
		}
		strategy, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy")
		url, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "webhook", "clientConfig", "url")
		if strategy != "Webhook" || url != want {
			return fmt.Errorf("spec.conversion: strategy %q, url %q", strategy, url)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.logf("the gateway set the Website CRD's conversion to Webhook at %s (updateCRD: true)", want)
	return poll(ctx, 30*time.Second, "conversion through the gateway", func() error {
		_, err := d.clients.dyn.Resource(websites("v1")).Namespace("web-shop").List(ctx, metav1.ListOptions{})
		return err
	})
}

// errStop ends a poll at once.
type errStop struct{ error }

// poll runs f every 50ms until it returns nil, ctx ends or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still failing after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// printGatewayTail prints the end of the gateway's log after a failure.
func (d *demo) printGatewayTail() {
	if d.gateway == nil {
		return
	}
	d.printf("demo: the gateway's last log lines (all of them: %s):\n%s", d.gatewayLog, indent(lastLines(d.gateway.Logs(), 30)))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// registrations counts the webhook configurations the gateway manages.
func (d *demo) registrations(ctx context.Context) (int, error) {
	ar := d.clients.cs.AdmissionregistrationV1()
	v, err := ar.ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return 0, err
	}
	m, err := ar.MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return 0, err
	}
	return len(v.Items) + len(m.Items), nil
}

// indent prefixes every line of s with three spaces.
func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString("   " + l)
		}
	}
	if !strings.HasSuffix(s, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

// prefixWriter prefixes every line written to w (a script's progress).
func prefixWriter(w io.Writer, prefix string) io.Writer {
	return &prefixed{w: w, prefix: prefix, bol: true}
}

type prefixed struct {
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixed) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if p.bol {
			out = append(out, p.prefix...)
			p.bol = false
		}
		out = append(out, c)
		if c == '\n' {
			p.bol = true
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
