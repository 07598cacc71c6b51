package notify

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
)

// emailKatalog: platform gets email (two recipients) and a Slack channel.
// $SMTP is replaced with the smtp block.
const emailKatalog = `notification:
  allowedCallers: [orkestra-system/orkestra-runtime]
  slack:
    botTokenFrom: {env: SLACK_BOT_TOKEN}
    apiURL: $SLACK_API
  email:
    smtp:
$SMTP
  teams:
    platform:
      email: [ops@example.com, "Dev Team <dev@example.com>"]
      slack: ["#platform"]
      subject: "[{{ .severity | upper }}] {{ .crName }}: {{ .subject }}"
      message: |
        {{ .crNamespace }}/{{ .crName }} ({{ .gvk }}) is {{ .condKey }}.
        {{ .message }}
`

type smtpConfig struct {
	mp       *notifytest.Mailpit
	tls      string
	user     string // env SMTP_USER
	password string // written to a file
	caFile   bool
}

// smtpKatalog renders emailKatalog for a mailpit and returns the harness
// options with the secrets in place.
func smtpKatalog(t *testing.T, c smtpConfig) harnessOptions {
	t.Helper()
	lines := []string{
		"      host: 127.0.0.1",
		"      port: " + strconv.Itoa(c.mp.SMTPPort),
		"      tls: " + c.tls,
		"      from: Orkestra <orkestra@example.com>",
	}
	env := map[string]string{}
	if c.user != "" {
		pw := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pw, []byte(c.password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env["SMTP_USER"] = c.user
		lines = append(lines, "      usernameFrom: {env: SMTP_USER}", "      passwordFrom: {file: "+pw+"}")
	}
	if c.caFile {
		lines = append(lines, "      caFile: "+c.mp.CAFile)
	}
	return harnessOptions{Katalog: strings.Replace(emailKatalog, "$SMTP", strings.Join(lines, "\n"), 1), Env: env}
}

func TestEmailSTARTTLSWithAuth(t *testing.T) {
	mp := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSStartTLS, User: "relay", Password: "s3cret-pw"})
	h := newHarness(t, smtpKatalog(t, smtpConfig{mp: mp, tls: "starttls", user: "relay", password: "s3cret-pw", caFile: true}))

	r := h.post(runtimeToken, eventBody("platform", "id", "mail-1", "message", "ready 1/3",
		"data", map[string]any{"ready": 1}), "?wait=true").want(t, http.StatusOK)
	if r.ans.Status != statusDelivered {
		t.Fatalf("%+v", r.ans)
	}
	msgs := mp.WaitMessages(t, 1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want one for the whole team", len(msgs))
	}
	m := msgs[0]
	var to []string
	for _, a := range m.To {
		to = append(to, a.Address)
	}
	sort.Strings(to)
	if strings.Join(to, ",") != "dev@example.com,ops@example.com" {
		t.Errorf("To = %v", to)
	}
	if m.Subject != "[WARNING] web-1: web-1 is not ready" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if want := "web/web-1 (web.example.com/v1/Website) is Ready=False.\nready 1/3"; strings.TrimSpace(strings.ReplaceAll(m.Text, "\r\n", "\n")) != want {
		t.Errorf("Text = %q, want %q", m.Text, want)
	}
	if m.From == nil || m.From.Address != "orkestra@example.com" {
		t.Errorf("From = %+v", m.From)
	}
	if m.Username != "relay" {
		t.Errorf("SMTP AUTH user = %q, want relay", m.Username)
	}
	for hdr, want := range map[string]string{HeaderKatalog: "shop", HeaderTeam: "platform", HeaderEventID: "mail-1", HeaderSeverity: "warning"} {
		if got := m.Headers[hdr]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %q", hdr, got, want)
		}
	}
	if strings.Contains(h.logs.String(), "s3cret-pw") {
		t.Error("the SMTP password reached the logs")
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	mp := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSImplicit})
	h := newHarness(t, smtpKatalog(t, smtpConfig{mp: mp, tls: "implicit", caFile: true}))
	h.post(runtimeToken, eventBody("platform"), "?wait=true").want(t, http.StatusOK)
	if m := mp.WaitMessages(t, 1, 5*time.Second)[0]; m.Username != "" {
		t.Errorf("AUTH without credentials: %q", m.Username)
	}
}

func TestEmailExplicitNone(t *testing.T) {
	mp := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSNone})
	h := newHarness(t, smtpKatalog(t, smtpConfig{mp: mp, tls: "none"}))
	h.post(runtimeToken, eventBody("platform"), "?wait=true").want(t, http.StatusOK)
	mp.WaitMessages(t, 1, 5*time.Second)
}

// Failures that retrying cannot fix are final at the first attempt.
func TestEmailConfigurationFailuresAreFinal(t *testing.T) {
	starttls := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSStartTLS, User: "relay", Password: "right"})
	plain := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSNone})
	tests := []struct {
		name string
		cfg  smtpConfig
		want string
	}{
		{"wrong password", smtpConfig{mp: starttls, tls: "starttls", user: "relay", password: "wrong", caFile: true}, "535"},
		{"untrusted certificate", smtpConfig{mp: starttls, tls: "starttls", user: "relay", password: "right"}, "certificate"},
		{"no STARTTLS offered", smtpConfig{mp: plain, tls: "starttls"}, "STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, smtpKatalog(t, tt.cfg))
			r := h.post(runtimeToken, eventBody("platform"), "?wait=true").want(t, http.StatusBadGateway)
			if !strings.Contains(r.ans.Reason, tt.want) {
				t.Errorf("reason %q does not mention %q", r.ans.Reason, tt.want)
			}
			if got := h.srv.m.retries.WithLabelValues(destEmail).Value(); got != 0 {
				t.Errorf("retried %v times", got)
			}
			if strings.Contains(r.raw, "wrong") && tt.cfg.password == "wrong" {
				t.Errorf("the password is in the answer: %s", r.raw)
			}
		})
	}
	if msgs, _ := starttls.Messages(); len(msgs) != 0 {
		t.Errorf("%d messages got through", len(msgs))
	}
}

func TestEmailServerDownIsRetried(t *testing.T) {
	mp := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSNone})
	o := smtpKatalog(t, smtpConfig{mp: mp, tls: "none"})
	// Nothing listens on the port of a listener that was closed.
	o.Katalog = strings.Replace(o.Katalog, "port: "+strconv.Itoa(mp.SMTPPort), "port: "+strconv.Itoa(closedPort(t)), 1)
	o.Modify = func(o *Options) { o.WaitLimit = 500 * time.Millisecond }
	h := newHarness(t, o)
	r := h.post(runtimeToken, eventBody("platform"), "?wait=true").want(t, http.StatusBadGateway)
	if !strings.Contains(r.ans.Reason, "refused") {
		t.Errorf("reason: %q", r.ans.Reason)
	}
	if got := h.srv.m.retries.WithLabelValues(destEmail).Value(); got < 1 {
		t.Errorf("a refused connection was not retried (retries %v)", got)
	}
}

// A slow or broken Slack never delays email: each destination has its own
// queue and workers.
func TestSlackDownWhileEmailWorks(t *testing.T) {
	mp := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSStartTLS})
	o := smtpKatalog(t, smtpConfig{mp: mp, tls: "starttls", caFile: true})
	h := newHarness(t, o)
	h.slack.Down(notifytest.Answer{Status: http.StatusServiceUnavailable})

	start := time.Now()
	for i := range 3 {
		h.post(runtimeToken, eventBody("platform", "crName", "obj-"+strconv.Itoa(i)), "").want(t, http.StatusAccepted)
	}
	mp.WaitMessages(t, 3, 5*time.Second)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("email took %s while Slack was down", el)
	}
	if n := len(h.slack.Delivered()); n != 0 {
		t.Fatalf("slack delivered %d while down", n)
	}
	if n := len(h.slack.Requests()); n < 3 {
		t.Errorf("slack was tried %d times", n)
	}

	h.slack.Up()
	got := h.slack.WaitDelivered(t, 3, 10*time.Second)
	for _, r := range got {
		if r.Channel != "#platform" || !strings.Contains(r.Text, "is Ready=False") {
			t.Errorf("slack got %+v", r)
		}
	}
	if got := h.srv.m.deliveries.WithLabelValues(destEmail, resultDelivered).Value(); got != 3 {
		t.Errorf("email deliveries = %v", got)
	}
}

// The message as a real SMTP server receives it: event text cannot add a
// header (CR and LF in the subject become spaces), non-ASCII text arrives
// intact (encoded words in headers, quoted-printable in the body), lines
// starting with a dot survive SMTP's dot-stuffing, a line longer than SMTP's
// 998 characters arrives whole, and both recipients get the one message.
func TestEmailMessageFormat(t *testing.T) {
	mp := notifytest.StartMailpit(t, notifytest.MailpitOptions{TLS: notifytest.TLSStartTLS})
	h := newHarness(t, smtpKatalog(t, smtpConfig{mp: mp, tls: "starttls", caFile: true}))
	long := strings.Repeat("0123456789", 150)
	subject := "Größe ✓ überschritten\r\nBcc: victim@example.com\r\n\r\nforged body " + strings.Repeat("word ", 20) + "end"
	message := ".a leading dot\n..two dots\n.\n" + long + "\nlast line: naïve = ok"
	h.post(runtimeToken, eventBody("platform", "subject", subject, "message", message), "?wait=true").want(t, http.StatusOK)

	m := mp.WaitMessages(t, 1, 5*time.Second)[0]
	wantSubject := "[WARNING] web-1: Größe ✓ überschritten  Bcc: victim@example.com    forged body " + strings.Repeat("word ", 20) + "end"
	if m.Subject != wantSubject {
		t.Errorf("Subject = %q\nwant      %q", m.Subject, wantSubject)
	}
	wantText := "web/web-1 (web.example.com/v1/Website) is Ready=False.\n" + message
	if got := strings.TrimRight(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n"); got != wantText {
		t.Errorf("Text = %q\nwant   %q", got, wantText)
	}
	if len(m.To) != 2 {
		t.Errorf("To = %v", m.To)
	}
	for name := range m.Headers {
		if strings.EqualFold(name, "Bcc") {
			t.Errorf("the subject added a header: %s: %v", name, m.Headers[name])
		}
	}
	for hdr, want := range map[string]string{"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All", "Mime-Version": "1.0"} {
		if got := m.Headers[hdr]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %q", hdr, got, want)
		}
	}
	raw, err := mp.Raw(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(raw, "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d of the message has %d characters", i+1, len(line))
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Errorf("line %d is not 7-bit: %q", i+1, line)
				break
			}
		}
	}
}
