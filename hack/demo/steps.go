package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

const (
	protectionLabel = "orkestra.io/deletion-protection"
	managedSelector = "app.kubernetes.io/managed-by=orkestra-gateway"
)

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

func websites(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "web.example.com", Version: version, Resource: "websites"}
}

func protectedLabels() map[string]string { return map[string]string{protectionLabel: "true"} }

func configMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// clients act as one user and collect the warnings the API server sends
// (admission warnings reach kubectl the same way).
type clients struct {
	cs   kubernetes.Interface
	dyn  dynamic.Interface
	warn *warnings
}

func newClients(cfg *rest.Config) (*clients, error) {
	c := &clients{warn: &warnings{}}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = c.warn
	var err error
	if c.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// take returns the warnings received since the last take.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// step is one part of the walkthrough.
type step struct {
	title string
	run   func(ctx context.Context, d *demo) error
}

var walkthrough = []step{
	{title: "The gateway registered its webhook configurations", run: stepRegistrations},
	{title: "Deletion protection: deleting a protected object is denied", run: stepProtectedDelete},
	{title: "An unprotected object is deleted as usual", run: stepUnprotectedDelete},
	{title: "The Katalog's CRD is protected too (protectCRD)", run: stepCRDProtected},
	{title: "Strict mode: removing the protection label is denied", run: stepStrictMode},
	{title: "Break-glass: a member of system:masters lifts protection, with a warning", run: stepBreakGlass},
	{title: "Namespace protection: Websites only in web-* and websites, never in kube-system", run: stepNamespaces},
	{title: "Validation: a denial lists every failing rule", run: stepValidationDenied},
	{title: "Validation: a warn rule lets the object in with a warning", run: stepValidationWarning},
	{title: "Mutation: a default and an override", run: stepMutation},
	{title: "Conversion: one object, read at v1, v2 and v3", run: stepConversion},
	{title: "Notification: an event POSTed to /notify, delivered by email and Slack", run: stepNotify},
}

func (d *demo) walkthrough(ctx context.Context) error {
	d.printf("\nThe walkthrough. To repeat a step by hand, in another terminal:\n\n   export KUBECONFIG=%s DEMO=%s\n", d.kubeconfig, d.dir)
	if err := os.MkdirAll(filepath.Join(d.dir, "manifests"), 0o755); err != nil {
		return err
	}
	defer func() {
		d.printMu.Lock()
		d.walkthroughOn = true
		d.printMu.Unlock()
	}()
	return d.runSteps(ctx, walkthrough)
}

// runSteps runs the steps in order. An error ends the walkthrough; so does
// a failed check when non-interactive, once its step has printed everything
// it observed. Interactive, failed checks are counted and the walkthrough
// goes on, so everything can still be explored.
func (d *demo) runSteps(ctx context.Context, steps []step) error {
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.printf("\n== %d/%d  %s\n", i+1, len(steps), s.title)
		d.stepFailed = false
		if err := s.run(ctx, d); err != nil {
			d.failed++
			return fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
		if d.stepFailed && d.nonInteractive {
			return fmt.Errorf("step %d (%s): a check failed", i+1, s.title)
		}
		if d.gateway != nil {
			select {
			case <-d.gateway.Done():
				return fmt.Errorf("the gateway exited during step %d", i+1)
			default:
			}
		}
	}
	return nil
}

// say prints an explanation; kubectl prints the command that does what the
// next call does; result prints its outcome as kubectl would.
func (d *demo) say(format string, args ...any) {
	if format == "" {
		d.printf("\n")
		return
	}
	d.printf("   "+format+"\n", args...)
}
func (d *demo) kubectl(args string) { d.printf("   $ kubectl %s\n", args) }
func (d *demo) shell(cmd string)    { d.printf("   $ %s\n", cmd) }
func (d *demo) result(s string) {
	d.printf("%s", indent("  "+strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")+"\n"))
}

// expect records one check and prints it; it returns ok.
func (d *demo) expect(ok bool, format string, args ...any) bool {
	d.checks++
	mark := "ok  "
	if !ok {
		mark = "FAIL"
		d.failed++
		d.stepFailed = true
	}
	d.printf("   [%s] %s\n", mark, fmt.Sprintf(format, args...))
	return ok
}

// showWarnings prints the warnings c received as kubectl does and returns them.
func (d *demo) showWarnings(c *clients) []string {
	w := c.warn.take()
	for _, m := range w {
		d.result("Warning: " + m)
	}
	return w
}

// showErr prints err as kubectl prints an error from the server.
func (d *demo) showErr(err error) {
	if err == nil {
		return
	}
	if st, ok := err.(apierrors.APIStatus); ok && apierrors.IsInvalid(err) && st.Status().Details != nil && len(st.Status().Details.Causes) > 0 {
		// kubectl lists the causes of an Invalid error.
		det := st.Status().Details
		kind, _, _ := strings.Cut(det.Kind, ".")
		lines := []string{fmt.Sprintf("The %s %q is invalid: ", kind, det.Name)}
		for _, c := range det.Causes {
			lines = append(lines, fmt.Sprintf("* %s: %s", c.Field, c.Message))
		}
		d.result(strings.Join(lines, "\n"))
		return
	}
	if reason := apierrors.ReasonForError(err); reason != metav1.StatusReasonUnknown {
		d.result(fmt.Sprintf("Error from server (%s): %v", reason, err))
		return
	}
	d.result("error: " + err.Error())
}

// table aligns tab-separated columns as kubectl get does.
func table(rows []string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	_ = tw.Flush()
	return b.String()
}

// manifest writes obj to $DEMO/manifests/name.yaml and returns the path as
// the user types it.
func (d *demo) manifest(name string, obj *unstructured.Unstructured) (string, error) {
	b, err := yaml.Marshal(obj.Object)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "manifests", name+".yaml"), b, 0o644); err != nil {
		return "", err
	}
	return "$DEMO/manifests/" + name + ".yaml", nil
}

func website(version, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "web.example.com/" + version,
		"kind":       "Website",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       spec,
	}}
}

// createWebsite writes the manifest, prints the kubectl command and its
// spec, and creates the object as c.
func (d *demo) createWebsite(ctx context.Context, c *clients, w *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	path, err := d.manifest(w.GetNamespace()+"-"+w.GetName(), w)
	if err != nil {
		return nil, err
	}
	spec, _ := json.Marshal(w.Object["spec"])
	d.kubectl("create -f " + path + "   # " + w.GetAPIVersion() + ", namespace " + w.GetNamespace() + ", spec " + string(spec))
	gv, _ := schema.ParseGroupVersion(w.GetAPIVersion())
	got, err := c.dyn.Resource(websites(gv.Version)).Namespace(w.GetNamespace()).Create(ctx, w, metav1.CreateOptions{})
	d.showWarnings(c)
	if err != nil {
		d.showErr(err)
	} else {
		d.result(fmt.Sprintf("website.web.example.com/%s created", got.GetName()))
	}
	return got, err
}

func stepRegistrations(ctx context.Context, d *demo) error {
	d.say("At start-up the gateway applied one configuration per enabled feature, each calling it at")
	d.say("https://127.0.0.1:%d/<path> (gateway.url) with its own CA as caBundle.", d.ports.webhook)
	d.kubectl("get validatingwebhookconfigurations,mutatingwebhookconfigurations -l " + managedSelector)
	v, err := d.clients.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return err
	}
	m, err := d.clients.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return err
	}
	var names, rows []string
	for _, c := range v.Items {
		names = append(names, c.Name)
		rows = append(rows, fmt.Sprintf("validatingwebhookconfiguration/%s\t%d", c.Name, len(c.Webhooks)))
	}
	for _, c := range m.Items {
		names = append(names, c.Name)
		rows = append(rows, fmt.Sprintf("mutatingwebhookconfiguration/%s\t%d", c.Name, len(c.Webhooks)))
	}
	d.result(table(append([]string{"NAME\tWEBHOOKS"}, rows...)))
	all := strings.Join(names, " ")
	for _, f := range []string{"deletion-protection", "strict-mode", "namespace-protection", "validate", "mutate"} {
		d.expect(strings.Contains(all, "orkestra-gateway-platform-guard-"+f), "%s is registered", f)
	}
	return nil
}

func stepProtectedDelete(ctx context.Context, d *demo) error {
	cms := d.clients.cs.CoreV1().ConfigMaps("demo")
	d.kubectl("-n demo create configmap precious")
	d.kubectl("-n demo label configmap precious " + protectionLabel + "=true")
	if _, err := cms.Create(ctx, configMap("precious", protectedLabels()), metav1.CreateOptions{}); err != nil {
		return err
	}
	d.kubectl("-n demo delete configmap precious")
	err := cms.Delete(ctx, "precious", metav1.DeleteOptions{})
	d.showErr(err)
	d.expect(apierrors.IsForbidden(err), "denied with 403 Forbidden")
	d.expect(err != nil && strings.Contains(err.Error(), "demo/precious") && strings.Contains(err.Error(), protectionLabel),
		"the message names the object and the label that lifts protection")
	_, err = cms.Get(ctx, "precious", metav1.GetOptions{})
	d.expect(err == nil, "demo/precious still exists")
	return nil
}

func stepUnprotectedDelete(ctx context.Context, d *demo) error {
	d.say("Objects without the label never reach the gateway (objectSelector), so its outage cannot block them.")
	cms := d.clients.cs.CoreV1().ConfigMaps("demo")
	d.kubectl("-n demo create configmap scratch")
	if _, err := cms.Create(ctx, configMap("scratch", nil), metav1.CreateOptions{}); err != nil {
		return err
	}
	d.kubectl("-n demo delete configmap scratch")
	err := cms.Delete(ctx, "scratch", metav1.DeleteOptions{})
	if err != nil {
		d.showErr(err)
	} else {
		d.result(`configmap "scratch" deleted`)
	}
	d.expect(err == nil, "deleted")
	_, err = cms.Get(ctx, "scratch", metav1.GetOptions{})
	d.expect(apierrors.IsNotFound(err), "demo/scratch is gone")
	return nil
}

func stepCRDProtected(ctx context.Context, d *demo) error {
	crds := d.clients.dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	d.say("Deleting a CRD deletes every object of its kind; protectCRD guards it without any label.")
	d.kubectl("delete crd websites.web.example.com")
	err := crds.Delete(ctx, "websites.web.example.com", metav1.DeleteOptions{})
	d.showErr(err)
	d.expect(apierrors.IsForbidden(err), "denied with 403 Forbidden")
	_, err = crds.Get(ctx, "websites.web.example.com", metav1.GetOptions{})
	d.expect(err == nil, "the CRD still exists")
	return nil
}

// unlabel is the JSON merge patch of `kubectl label ... KEY-`.
var unlabel = []byte(`{"metadata":{"labels":{"` + protectionLabel + `":null}}}`)

func stepStrictMode(ctx context.Context, d *demo) error {
	d.say("dana is cluster-admin through the group demo:admins (RBAC lets her do anything), but")
	d.say("breakGlass lists only system:masters, so strictMode refuses to let her lift protection.")
	d.kubectl("--as dana --as-group demo:admins -n demo label configmap precious " + protectionLabel + "-")
	_, err := d.dana.cs.CoreV1().ConfigMaps("demo").Patch(ctx, "precious", types.MergePatchType, unlabel, metav1.PatchOptions{})
	d.showWarnings(d.dana)
	d.showErr(err)
	d.expect(apierrors.IsForbidden(err), "denied with 403 Forbidden")
	cm, err := d.clients.cs.CoreV1().ConfigMaps("demo").Get(ctx, "precious", metav1.GetOptions{})
	d.expect(err == nil && cm.Labels[protectionLabel] == "true", "demo/precious is still protected")
	return nil
}

func stepBreakGlass(ctx context.Context, d *demo) error {
	d.say("The demo kubeconfig's user is in system:masters, the example's breakGlass group.")
	cms := d.clients.cs.CoreV1().ConfigMaps("demo")
	d.kubectl("-n demo label configmap precious " + protectionLabel + "-")
	_, err := cms.Patch(ctx, "precious", types.MergePatchType, unlabel, metav1.PatchOptions{})
	w := d.showWarnings(d.clients)
	if err != nil {
		d.showErr(err)
	} else {
		d.result("configmap/precious unlabeled")
	}
	d.expect(err == nil, "allowed")
	d.expect(strings.Contains(strings.Join(w, "\n"), "break-glass"), "with an admission warning about the break-glass use (the gateway logs it too)")
	d.kubectl("-n demo delete configmap precious")
	err = cms.Delete(ctx, "precious", metav1.DeleteOptions{})
	if err != nil {
		d.showErr(err)
	} else {
		d.result(`configmap "precious" deleted`)
	}
	d.expect(err == nil, "once protection is lifted, the delete goes through")
	return nil
}

func stepNamespaces(ctx context.Context, d *demo) error {
	d.say("The website entry allows web-* and websites; the Katalog restricts kube-system and kube-public.")
	spec := map[string]any{"image": "registry.example.com/shop:1.0", "domain": "shop.example.com", "replicas": int64(2)}
	for _, ns := range []string{"default", "kube-system"} {
		_, err := d.createWebsite(ctx, d.clients, website("v2", ns, "shop", spec))
		d.expect(apierrors.IsForbidden(err), "a Website in %s is denied with 403 Forbidden", ns)
	}
	_, err := d.createWebsite(ctx, d.clients, website("v2", "web-shop", "shop", spec))
	d.expect(err == nil, "a Website in web-shop is allowed (web-*)")
	return nil
}

func stepValidationDenied(ctx context.Context, d *demo) error {
	d.say("Rules are evaluated in order, all of them: one cause per failing field, like the API server's own validation.")
	_, err := d.createWebsite(ctx, d.clients, website("v2", "web-shop", "too-big", map[string]any{
		"image": "registry.example.com/shop:1.0", "domain": "big.example.com", "replicas": int64(20), "tier": "gold",
	}))
	d.expect(apierrors.IsInvalid(err), "denied with 422 Invalid")
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	d.expect(strings.Contains(msg, "replicas must be between 1 and 10") && strings.Contains(msg, "tier must be standard or premium"),
		"both failing rules are reported")
	if st, ok := err.(apierrors.APIStatus); ok {
		causes := 0
		if det := st.Status().Details; det != nil {
			causes = len(det.Causes)
		}
		d.expect(causes == 2, "two causes, spec.replicas and spec.tier (got %d)", causes)
	}
	return nil
}

func stepValidationWarning(ctx context.Context, d *demo) error {
	c := d.clients
	w := website("v2", "web-shop", "blog", map[string]any{"image": "docker.io/library/nginx:1.27", "domain": "blog.example.com", "replicas": int64(1)})
	path, err := d.manifest("web-shop-blog", w)
	if err != nil {
		return err
	}
	d.kubectl("create -f " + path + `   # image docker.io/library/nginx:1.27`)
	_, err = c.dyn.Resource(websites("v2")).Namespace("web-shop").Create(ctx, w, metav1.CreateOptions{})
	warns := d.showWarnings(c)
	if err != nil {
		d.showErr(err)
	} else {
		d.result("website.web.example.com/blog created")
	}
	d.expect(err == nil, "created")
	d.expect(strings.Contains(strings.Join(warns, "\n"), "images should come from registry.example.com"), "with the warn rule's message as an admission warning")
	return nil
}

func stepMutation(ctx context.Context, d *demo) error {
	d.say("spec.tier defaults to standard when absent; the managed-by annotation is always orkestra.")
	w := website("v2", "web-shop", "docs", map[string]any{"image": "registry.example.com/docs:2.1", "domain": "docs.example.com", "replicas": int64(1)})
	w.SetAnnotations(map[string]string{"app.kubernetes.io/managed-by": "helm"})
	if _, err := d.createWebsite(ctx, d.clients, w); err != nil {
		d.expect(false, "created")
		return nil
	}
	d.kubectl(`-n web-shop get website docs -o jsonpath='{.spec.tier} {.metadata.annotations.app\.kubernetes\.io/managed-by}'`)
	got, err := d.clients.dyn.Resource(websites("v2")).Namespace("web-shop").Get(ctx, "docs", metav1.GetOptions{})
	if err != nil {
		return err
	}
	tier, _, _ := unstructured.NestedString(got.Object, "spec", "tier")
	managed := got.GetAnnotations()["app.kubernetes.io/managed-by"]
	d.result(tier + " " + managed)
	d.expect(tier == "standard", "spec.tier was defaulted to standard")
	d.expect(managed == "orkestra", "the managed-by annotation was overridden from helm to orkestra")
	return nil
}

func stepConversion(ctx context.Context, d *demo) error {
	d.say("v1 has spec.size, v2 (stored) spec.replicas and spec.domain, v3 spec.hostname. The API server")
	d.say("calls the gateway's /convert for every read or write at a version other than the stored one.")
	w := website("v1", "web-shop", "legacy", map[string]any{"image": "registry.example.com/legacy:0.9", "domain": "legacy.example.com", "size": int64(3)})
	if _, err := d.createWebsite(ctx, d.clients, w); err != nil {
		d.expect(false, "created at v1")
		return nil
	}
	read := func(version, query string, path ...string) any {
		d.kubectl("-n web-shop get websites." + version + ".web.example.com legacy -o jsonpath='" + query + "'")
		u, err := d.clients.dyn.Resource(websites(version)).Namespace("web-shop").Get(ctx, "legacy", metav1.GetOptions{})
		d.showWarnings(d.clients)
		if err != nil {
			d.showErr(err)
			return nil
		}
		v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
		d.result(fmt.Sprint(v))
		return v
	}
	d.expect(read("v2", "{.spec.replicas}", "spec", "replicas") == int64(3), "at v2, spec.size became spec.replicas: 3 (a number)")
	d.expect(read("v3", "{.spec.hostname}", "spec", "hostname") == "legacy.example.com", "at v3 (through v2), spec.domain became spec.hostname")
	d.expect(read("v1", "{.spec.size}", "spec", "size") == int64(3), "back at v1, spec.size is 3 again")
	tier := read("v2", "{.spec.tier}", "spec", "tier")
	d.expect(tier == "standard", "the v1 request was converted before the rules ran: the v2 mutation set spec.tier")
	return nil
}

func stepNotify(ctx context.Context, d *demo) error {
	d.say("The Runtime (here the example's allowed caller, %s/%s) POSTs events with its ServiceAccount token;", gatewayNamespace, callerSA)
	d.say("the gateway checks it with a TokenReview, renders the team's subject and delivers to email and Slack.")
	token, err := d.env.ServiceAccountTokenFor(ctx, gatewayNamespace, callerSA, 0, "orkestra-gateway") // a projected token for the gateway
	if err != nil {
		return err
	}
	event := map[string]any{
		"katalogName": "platform-guard",
		"crName":      "shop",
		"crNamespace": "web-shop",
		"gvk":         "web.example.com/v2/Website",
		"condKey":     "Ready=False",
		"teamName":    "security",
		"subject":     "Website web-shop/shop is not ready",
		"message":     "web-shop/shop: 0 of 2 replicas ready for 5m (ImagePullBackOff)",
		"severity":    "warning",
	}
	body, _ := json.MarshalIndent(event, "", "  ")
	if err := os.WriteFile(filepath.Join(d.dir, "manifests", "event.json"), body, 0o644); err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/notify?wait=true", d.ports.notify)
	d.shell(fmt.Sprintf(`curl --cacert $DEMO/gateway-ca.crt -H "Authorization: Bearer $(kubectl -n %s create token %s)" -H 'Content-Type: application/json' -d @$DEMO/manifests/event.json '%s'`,
		gatewayNamespace, callerSA, url))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.gatewayClient(40 * time.Second).Do(req)
	if err != nil {
		d.expect(false, "POST /notify: %v", err)
		return nil
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	d.result(fmt.Sprintf("%s %s", resp.Status, bytes.TrimSpace(answer)))
	d.expect(resp.StatusCode == http.StatusOK && bytes.Contains(answer, []byte(`"delivered"`)), "200, delivered (?wait=true answers after delivery)")

	d.say("")
	d.say("The email, as mailpit received it (web UI: %s):", d.mail.UI())
	m, err := d.mail.waitMail(10 * time.Second)
	if err != nil {
		d.expect(false, "%v", err)
	} else {
		to := make([]string, len(m.To))
		for i, a := range m.To {
			to[i] = a.Address
		}
		keys := make([]string, 0, len(m.Headers))
		for k := range m.Headers {
			if strings.HasPrefix(k, "X-Orkestra-") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		lines := []string{"From: " + m.From.Address, "To: " + strings.Join(to, ", "), "Subject: " + m.Subject}
		for _, k := range keys {
			lines = append(lines, k+": "+strings.Join(m.Headers[k], ", "))
		}
		lines = append(lines, "", strings.TrimSpace(m.Text))
		d.result(strings.Join(lines, "\n"))
		d.expect(strings.Join(to, ",") == "security@example.com", "to the security team's address")
		d.expect(m.Subject == "[warning] Website web-shop/shop is not ready", "subject rendered by the team's template")
		d.expect(m.Username == d.mail.User, "sent over STARTTLS with SMTP AUTH as %q (user from $SMTP_USERNAME, password from a mounted file)", d.mail.User)
	}
	d.say("")
	d.say("The Slack message (incoming webhook from $SLACK_WEBHOOK_URL):")
	s, err := d.slack.wait(10 * time.Second)
	if err != nil {
		d.expect(false, "%v", err)
		return nil
	}
	d.result(s.Text)
	d.expect(strings.Contains(s.Text, "web-shop/shop"), "posted to the team's webhook")
	return nil
}

// gatewayClient trusts only the gateway's CA.
func (d *demo) gatewayClient(timeout time.Duration) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.caPEM)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}

// printUsage is what the interactive demo shows while it keeps running.
func (d *demo) printUsage() {
	d.printf(`
Everything keeps running. In another terminal:

   export KUBECONFIG=%[1]s DEMO=%[2]s
   kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations
   kubectl -n demo create configmap mine && kubectl -n demo label configmap mine %[3]s=true
   kubectl -n demo delete configmap mine                  # denied: protected
   kubectl -n demo label configmap mine %[3]s-   # allowed with a warning: you are system:masters
   kubectl create -f $DEMO/manifests/web-shop-too-big.yaml                          # denied by two rules
   kubectl -n web-shop get websites.v1.web.example.com,websites.v3.web.example.com # conversion
   kubectl delete validatingwebhookconfiguration orkestra-gateway-platform-guard-validate   # restored within 10s

   The gateway:  https://127.0.0.1:%[4]d (webhooks), https://127.0.0.1:%[5]d/notify, http://127.0.0.1:%[6]d/metrics
   Its log:      tail -f %[7]s
   Its Katalog:  %[8]s
   Mail:         %[9]s (mailpit web UI); Slack messages are printed here
   Notify:       the curl command of the notification step (token: kubectl -n %[10]s create token %[11]s)

Press Ctrl-C to stop every process and remove %[2]s.
`, d.kubeconfig, d.dir, protectionLabel, d.ports.webhook, d.ports.notify, d.ports.probe, d.gatewayLog, d.katalog, d.mail.UI(), gatewayNamespace, callerSA)
}
