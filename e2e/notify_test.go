package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
)

// notifyGateway is a gateway whose notifications go to a real SMTP server
// (mailpit: STARTTLS required, AUTH) and to the Slack stand-in.
type notifyGateway struct {
	*gateway
	mail   *notifytest.Mailpit
	slack  *notifytest.Slack
	client *http.Client
	url    string
}

func startNotifyGateway(t *testing.T, args ...string) *notifyGateway {
	t.Helper()
	return startNotifyGatewayIn(t, "", nil, args...)
}

// startNotifyGatewayIn runs the notify gateway in namespace (default
// gatewayNamespace), with edit applied to its Katalog text.
func startNotifyGatewayIn(t *testing.T, namespace string, edit func(string) string, args ...string) *notifyGateway {
	t.Helper()
	return startNotifyReplicasIn(t, 1, namespace, edit, args...)[0]
}

// startNotifyReplicas starts n replicas of one Katalog, sharing mailpit and
// the Slack stand-in, as the pods of one Deployment share Slack and SMTP.
func startNotifyReplicas(t *testing.T, n int, args ...string) []*notifyGateway {
	t.Helper()
	return startNotifyReplicasIn(t, n, "", nil, args...)
}

// startNotifyReplicasIn is startNotifyReplicas in namespace, with edit
// applied to the Katalog text.
func startNotifyReplicasIn(t *testing.T, n int, namespace string, edit func(string) string, args ...string) []*notifyGateway {
	t.Helper()
	mp := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSStartTLS, User: "relay", Password: "relay-password"})
	slack := notifytest.NewSlack(t, "xoxb-e2e-token")
	pw := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pw, []byte("relay-password\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := readTestdata(t, "notify-katalog.yaml")
	for k, v := range map[string]string{
		"{{SLACK_API}}":          slack.APIURL(),
		"{{SMTP_PORT}}":          strconv.Itoa(mp.SMTPPort),
		"{{SMTP_PASSWORD_FILE}}": pw,
		"{{SMTP_CA_FILE}}":       mp.CAFile,
	} {
		text = strings.ReplaceAll(text, k, v)
	}
	if edit != nil {
		text = edit(text)
	}
	ns := gatewayNamespace
	if namespace != "" {
		ns = namespace
	}
	var out []*notifyGateway
	for range n {
		g := startGateway(t, gatewayOptions{
			Katalog:   text,
			Namespace: namespace,
			Args:      args,
			Env: []string{
				"SLACK_WEBHOOK_URL=" + slack.WebhookURL("T000/B000/e2e-secret"),
				"SLACK_BOT_TOKEN=xoxb-e2e-token",
				"SMTP_USER=relay",
			},
		})
		sec, err := env.Clientset.CoreV1().Secrets(ns).Get(context.Background(), secretName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the gateway's TLS Secret: %v", err)
		}
		ng := &notifyGateway{gateway: g, mail: mp, slack: slack,
			client: webhookClient(t, sec.Data["ca.crt"]),
			url:    fmt.Sprintf("https://127.0.0.1:%d/notify", g.notifyPort)}
		ng.client.Timeout = 40 * time.Second
		out = append(out, ng)
	}
	return out
}

// saToken returns a token of namespace/name for the gateway's audience, as
// the projected token a /notify caller mounts.
func saToken(t *testing.T, namespace, name string) string {
	return tokenFor(t, namespace, name, notifyAudience)
}

// notifyAudience is the default notification.audience.
const notifyAudience = "orkestra-gateway"

// tokenFor returns a TokenRequest token of namespace/name for audiences
// (none: the API server's own).
func tokenFor(t *testing.T, namespace, name string, audiences ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := env.ServiceAccountTokenFor(ctx, namespace, name, 0, audiences...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type notifyAnswer struct {
	code int
	body map[string]any
	raw  string
}

func (n *notifyGateway) post(t *testing.T, token, query string, ev map[string]any) (notifyAnswer, error) {
	t.Helper()
	b, _ := json.Marshal(ev)
	req, err := http.NewRequest(http.MethodPost, n.url+query, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return notifyAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := notifyAnswer{code: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

func (n *notifyGateway) mustPost(t *testing.T, token, query string, ev map[string]any, want int) notifyAnswer {
	t.Helper()
	a, err := n.post(t, token, query, ev)
	if err != nil {
		t.Fatalf("POST /notify: %v\n%s", err, n.proc.Logs())
	}
	if a.code != want {
		t.Fatalf("POST /notify%s: %d, want %d: %s\n%s", query, a.code, want, a.raw, n.proc.Logs())
	}
	return a
}

func notifyEvent(crName string, kv ...any) map[string]any {
	ev := map[string]any{
		"katalogName": "e2e-notify", "crName": crName, "crNamespace": "web",
		"gvk": "web.example.com/v1/Website", "condKey": "Ready=False",
		"teamName": "platform", "subject": crName + " is not ready",
		"message":  "1 of 3 replicas are ready",
		"severity": "warning", "data": map[string]any{"ready": 1, "want": 3},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(ev, kv[i].(string))
		} else {
			ev[kv[i].(string)] = kv[i+1]
		}
	}
	return ev
}

// The real binary relays an event from an allowed ServiceAccount: the
// email arrives through a STARTTLS+AUTH relay with the team's rendered
// subject and body, and Slack gets the rendered message on both APIs.
func TestNotifyDelivers(t *testing.T) {
	n := startNotifyGateway(t)
	runtime := saToken(t, "orkestra-system", "orkestra-runtime")

	n.mustPost(t, "", "", notifyEvent("web-1"), http.StatusUnauthorized)
	// The Runtime's token for the API server, not for the gateway.
	a := n.mustPost(t, tokenFor(t, "orkestra-system", "orkestra-runtime"), "", notifyEvent("web-1"), http.StatusUnauthorized)
	if !strings.Contains(a.raw, notifyAudience) {
		t.Errorf("401 for a token without the audience: %s", a.raw)
	}
	n.mustPost(t, saToken(t, "default", "intruder"), "", notifyEvent("web-1"), http.StatusForbidden)
	n.mustPost(t, runtime, "", notifyEvent("web-1", "teamName", "nobody"), http.StatusNotFound)

	a = n.mustPost(t, runtime, "?wait=true", notifyEvent("web-1", "teamName", nil, "teams", []string{"platform", "alerts"}, "id", "e2e-1"), http.StatusOK)
	if a.body["status"] != "delivered" || a.body["id"] != "e2e-1" {
		t.Errorf("answer: %s", a.raw)
	}

	msgs := n.mail.WaitMessages(t, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want one for the team", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "[WARNING] web/web-1: web-1 is not ready" {
		t.Errorf("subject %q", m.Subject)
	}
	if body := strings.TrimSpace(m.Text); body != "web/web-1 (Ready=False): 1 of 3 replicas are ready" {
		t.Errorf("body %q", body)
	}
	var to []string
	for _, r := range m.To {
		to = append(to, r.Address)
	}
	sort.Strings(to)
	if strings.Join(to, " ") != "dev@example.com ops@example.com" || m.Username != "relay" {
		t.Errorf("to %v, AUTH user %q", to, m.Username)
	}
	if h := m.Headers["X-Orkestra-Team"]; len(h) != 1 || h[0] != "platform" {
		t.Errorf("X-Orkestra-Team = %v", h)
	}

	got := map[string]notifytest.SlackRequest{}
	for _, r := range n.slack.WaitDelivered(t, 2, 10*time.Second) {
		got[r.Kind] = r
	}
	if p := got["chat.postMessage"]; p.Channel != "#platform-alerts" || p.Text != "web/web-1 (Ready=False): 1 of 3 replicas are ready" {
		t.Errorf("chat.postMessage: %+v", p)
	}
	if w := got["webhook"]; w.Text != "1 of 3 replicas are ready" {
		t.Errorf("webhook: %+v", w)
	}

	// Throttled: the same object and condition within the interval.
	a = n.mustPost(t, runtime, "", notifyEvent("web-1"), http.StatusAccepted)
	if a.body["status"] != "suppressed" {
		t.Errorf("repeat: %s", a.raw)
	}

	code, metrics := n.probe("/metrics")
	if code != http.StatusOK || !strings.Contains(metrics, `orkestra_gateway_notify_deliveries_total{destination="email",result="delivered"} 1`) {
		t.Errorf("metrics (%d) lack the email delivery:\n%s", code, grepLines(metrics, "orkestra_gateway_notify_"))
	}
	if strings.Contains(n.proc.Logs(), "relay-password") || strings.Contains(n.proc.Logs(), "e2e-secret") || strings.Contains(n.proc.Logs(), runtime) {
		t.Error("a secret reached the gateway's logs")
	}
}

// SIGTERM with deliveries still queued (Slack down): the gateway stops
// accepting, keeps retrying, and exits only once everything is delivered.
func TestNotifyDrainsOnSIGTERM(t *testing.T) {
	n := startNotifyGateway(t, "--drain-timeout", "20s")
	runtime := saToken(t, "orkestra-system", "orkestra-runtime")
	n.slack.Down(notifytest.Answer{Status: http.StatusServiceUnavailable})

	var ids []string
	for i := range 3 {
		a := n.mustPost(t, runtime, "", notifyEvent("drain-"+strconv.Itoa(i)), http.StatusAccepted)
		if a.body["status"] != "queued" {
			t.Fatalf("event %d: %s", i, a.raw)
		}
		ids = append(ids, a.body["id"].(string))
	}
	eventually(t, 10*time.Second, "slack tried while down", func() error {
		if n := len(n.slack.Requests()); n < 3 {
			return fmt.Errorf("%d requests", n)
		}
		return nil
	})
	if len(n.slack.Delivered()) != 0 {
		t.Fatal("delivered while down")
	}

	if err := n.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// New events are refused while draining (or the listener is closed).
	if a, err := n.post(t, runtime, "", notifyEvent("late")); err == nil && a.code != http.StatusServiceUnavailable {
		t.Errorf("during the drain: %d %s", a.code, a.raw)
	}
	n.slack.Up()

	code, err := n.proc.Wait(30 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, n.proc.Logs())
	}
	if got := len(n.slack.Delivered()); got != 3 {
		t.Errorf("slack got %d of 3 after the drain\n%s", got, n.proc.Logs())
	}
	if msgs, err := n.mail.Messages(); err != nil || len(msgs) != 3 {
		t.Errorf("mail: %d of 3 (%v)", len(msgs), err)
	}
	logs := n.proc.Logs()
	if strings.Contains(logs, "left undelivered") {
		t.Errorf("deliveries left at shutdown:\n%s", logs)
	}
	// Each queued event was retried (and then delivered) during the drain.
	for _, id := range ids {
		if !strings.Contains(logs, id) {
			t.Errorf("no log line names event %s", id)
		}
	}
}

// Three replicas get the same events, as the Runtime's retries or several
// Runtimes behind one Service would send them: one email and one Slack
// message per event id and per throttle key, whichever replica answers.
// The replicas share the marker through a Lease per key in the gateway's
// namespace.
func TestNotifyOnceAcrossReplicas(t *testing.T) {
	ns := startNotifyReplicas(t, 3)
	runtime := saToken(t, "orkestra-system", "orkestra-runtime")
	all := func(evs ...map[string]any) []string {
		st := make([]string, len(ns))
		var wg sync.WaitGroup
		for i, n := range ns {
			wg.Go(func() {
				a, err := n.post(t, runtime, "", evs[i%len(evs)])
				if err != nil || a.code != http.StatusAccepted {
					t.Errorf("replica %d: %v %d %s", i, err, a.code, a.raw)
					return
				}
				st[i], _ = a.body["status"].(string)
			})
		}
		wg.Wait()
		sort.Strings(st)
		return st
	}
	want := []string{"queued", "suppressed", "suppressed"}
	// The same event, with an id, at the three replicas at once.
	if st := all(notifyEvent("shared-1", "id", "shared-ev-1")); !slices.Equal(st, want) {
		t.Errorf("one event at 3 replicas: %v, want %v", st, want)
	}
	// One key, a distinct id (or none) at each replica.
	if st := all(notifyEvent("shared-2", "id", "shared-ev-2"), notifyEvent("shared-2", "id", "shared-ev-3"), notifyEvent("shared-2")); !slices.Equal(st, want) {
		t.Errorf("one key at 3 replicas: %v, want %v", st, want)
	}
	// One id, a distinct key at each replica.
	if st := all(notifyEvent("shared-3", "id", "shared-ev-4"), notifyEvent("shared-4", "id", "shared-ev-4"), notifyEvent("shared-5", "id", "shared-ev-4")); !slices.Equal(st, want) {
		t.Errorf("one id at 3 replicas: %v, want %v", st, want)
	}

	// The platform team gets an email and a chat.postMessage per event.
	msgs := ns[0].mail.WaitMessages(t, 3, 15*time.Second)
	subjects := map[string]int{}
	for _, m := range msgs {
		subjects[m.Subject]++
	}
	slackTexts := map[string]int{}
	for _, r := range ns[0].slack.WaitDelivered(t, 3, 15*time.Second) {
		slackTexts[r.Text]++
	}
	for _, cr := range []string{"shared-1", "shared-2"} {
		if n := subjects["[WARNING] web/"+cr+": "+cr+" is not ready"]; n != 1 {
			t.Errorf("%d emails for %s, want 1 (subjects %v)", n, cr, subjects)
		}
		if n := slackTexts["web/"+cr+" (Ready=False): 1 of 3 replicas are ready"]; n != 1 {
			t.Errorf("%d Slack messages for %s, want 1 (%v)", n, cr, slackTexts)
		}
	}
	if len(msgs) != 3 || len(slackTexts) != 3 {
		t.Errorf("%d emails and %d distinct Slack messages, want 3 each (one per event): %v %v", len(msgs), len(slackTexts), subjects, slackTexts)
	}
	var claimed, held float64
	for _, n := range ns {
		_, m := n.probe("/metrics")
		claimed += sumMetric(m, `orkestra_gateway_notify_claims_total{result="claimed"}`)
		held += sumMetric(m, `orkestra_gateway_notify_claims_total{result="held"}`)
		if strings.Contains(n.proc.Logs(), "delivering anyway") {
			t.Errorf("a replica could not claim a key:\n%s", n.proc.Logs())
		}
	}
	t.Logf("claims across the replicas: %v claimed, %v held", claimed, held)
}

func sumMetric(metrics, series string) float64 {
	var sum float64
	for _, l := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			sum += v
		}
	}
	return sum
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Values from events reach Slack escaped: an event cannot mention
// <!channel> or plant a link, on either Slack API.
func TestNotifySlackEscaping(t *testing.T) {
	n := startNotifyGateway(t)
	runtime := saToken(t, "orkestra-system", "orkestra-runtime")
	msg := "<!channel> see <https://evil.example|the fix> & reply"
	n.mustPost(t, runtime, "?wait=true", notifyEvent("web-esc", "teamName", nil, "teams", []string{"platform", "alerts"}, "message", msg), http.StatusOK)
	got := map[string]notifytest.SlackRequest{}
	for _, r := range n.slack.WaitDelivered(t, 2, 10*time.Second) {
		got[r.Kind] = r
	}
	escaped := "&lt;!channel&gt; see &lt;https://evil.example|the fix&gt; &amp; reply"
	if w := got["webhook"]; w.Text != escaped {
		t.Errorf("webhook (the event's text): %q, want %q", w.Text, escaped)
	}
	if p := got["chat.postMessage"]; p.Text != "web/web-esc (Ready=False): "+escaped {
		t.Errorf("chat.postMessage (the team's template): %q", p.Text)
	}
	// Email gets the text as written.
	msgs := n.mail.WaitMessages(t, 1, 10*time.Second)
	if body := strings.TrimSpace(msgs[0].Text); body != "web/web-esc (Ready=False): "+msg {
		t.Errorf("email body %q", body)
	}
}

// An event whose message would be a template bomb (nested replace over its
// own data: 206 MiB if executed) is delivered as text; the gateway's memory
// does not move.
func TestNotifyTemplateBomb(t *testing.T) {
	n := startNotifyGateway(t)
	runtime := saToken(t, "orkestra-system", "orkestra-runtime")
	msg := `{{ .data.a | replace "a" .data.a | replace "a" .data.a }}`
	ev := notifyEvent("web-bomb", "teamName", "alerts", "message", msg, "data", map[string]any{"a": strings.Repeat("a", 600)})
	n.mustPost(t, runtime, "?wait=true", ev, http.StatusOK)
	if d := n.slack.WaitDelivered(t, 1, 10*time.Second); d[0].Text != msg {
		t.Errorf("delivered %q, want the message as text", d[0].Text)
	}
	code, metrics := n.probe("/metrics")
	m := regexp.MustCompile(`(?m)^process_resident_memory_bytes (\S+)$`).FindStringSubmatch(metrics)
	if code != http.StatusOK || m == nil {
		t.Fatalf("/metrics %d lacks process_resident_memory_bytes", code)
	}
	rss, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("gateway RSS after the event: %.1f MiB", rss/(1<<20))
	if rss > 96<<20 {
		t.Errorf("gateway RSS %.1f MiB after one event", rss/(1<<20))
	}
}

// A gateway installed in another namespace, with neither gateway.namespace
// nor allowedCallers, accepts its own Runtime's token (the Runtime's
// service account in the pod's namespace) and no other namespace's.
func TestNotifyDefaultCallerInPodNamespace(t *testing.T) {
	const ns = "platform"
	n := startNotifyGatewayIn(t, ns, func(text string) string {
		text = strings.Replace(text, "  namespace: orkestra-system\n", "", 1)
		return strings.Replace(text, "  allowedCallers: [orkestra-system/orkestra-runtime]\n", "", 1)
	})
	if strings.Contains(n.katalogText(t), "orkestra-system") {
		t.Fatal("the Katalog still names orkestra-system")
	}
	n.mustPost(t, saToken(t, ns, "orkestra-runtime"), "", notifyEvent("own-runtime", "teamName", "alerts"), http.StatusAccepted)
	n.mustPost(t, saToken(t, "orkestra-system", "orkestra-runtime"), "", notifyEvent("other-runtime", "teamName", "alerts"), http.StatusForbidden)
}

func (n *notifyGateway) katalogText(t *testing.T) string {
	b, err := os.ReadFile(n.katalog)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
