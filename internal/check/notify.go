package check

import (
	"fmt"
	"net/mail"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

const (
	defaultInterval  = 15 * time.Minute
	defaultSMTPPort  = 587
	defaultSMTPTLS   = "starttls"
	defaultSlackAPI  = "https://slack.com/api"
	runtimeAccount   = "orkestra-runtime"
	notificationBase = "notification"
	// defaultAudience is the audience /notify callers' tokens carry unless
	// notification.audience says otherwise.
	defaultAudience = "orkestra-gateway"
)

// notification checks the notification block (K10, K19, K20, K22). Teams
// are delivered to:
//   - email, when the team lists addresses (needs email.smtp);
//   - chat.postMessage to the team's channels, when it lists channels (needs
//     slack.botTokenFrom);
//   - an incoming webhook: the team's slackWebhookURLFrom, or slack.webhookURLFrom
//     for a team that names no channel of its own.
func (p *pass) notification() {
	n := p.k.Notification
	if n == nil {
		return
	}
	const base = notificationBase
	out := &policy.Notification{Interval: defaultInterval}

	// The default caller is the Runtime's service account in the gateway's
	// namespace: gateway.namespace, else the pod's (known at run time).
	if g := p.k.Gateway; g != nil && g.Namespace != "" {
		out.AllowedCallers = []string{g.Namespace + "/" + runtimeAccount}
	} else {
		out.DefaultCaller = runtimeAccount
	}
	out.Audience = defaultAudience
	if n.Audience != "" {
		out.Audience = n.Audience
		if msg := audienceProblem(n.Audience); msg != "" {
			p.errorf("K20", base+".audience", "use a short name without white space, e.g. "+defaultAudience,
				"audience %q %s", n.Audience, msg)
		}
	}
	if n.AllowedCallers != nil {
		out.DefaultCaller = ""
		out.AllowedCallers = nil
		for i, c := range n.AllowedCallers {
			if msg := callerProblem(c); msg != "" {
				p.errorf("K20", fmt.Sprintf("%s.allowedCallers[%d]", base, i),
					"write namespace/serviceaccount, e.g. orkestra-system/orkestra-runtime",
					"allowed caller %q %s", c, msg)
				continue
			}
			out.AllowedCallers = append(out.AllowedCallers, c)
		}
	}

	if d := n.Defaults; d != nil {
		if d.Interval != "" {
			if v, ok := p.interval(base+".defaults.interval", d.Interval); ok {
				out.Interval = v
			}
		}
		out.Message = p.notifyTemplate(base+".defaults.message", d.Message)
		out.Subject = p.notifyTemplate(base+".defaults.subject", d.Subject)
	}

	if s := n.Slack; s != nil {
		out.Slack = &policy.Slack{
			WebhookURL: p.secretRef(base+".slack.webhookURLFrom", s.WebhookURLFrom),
			BotToken:   p.secretRef(base+".slack.botTokenFrom", s.BotTokenFrom),
			APIURL:     defaultSlackAPI,
		}
		if s.APIURL != "" {
			out.Slack.APIURL = s.APIURL
			u, err := url.Parse(s.APIURL)
			switch {
			case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
				p.errorf("K20", base+".slack.apiURL", "write the Web API base, e.g. "+defaultSlackAPI,
					"slack.apiURL %q is not an http(s) URL with a host", s.APIURL)
			case u.Scheme == "http":
				p.warnf("K20", base+".slack.apiURL", "use https",
					"slack.apiURL %q is not encrypted; the bot token would travel in clear", s.APIURL)
			}
		}
	}
	if e := n.Email; e != nil && e.SMTP != nil {
		out.SMTP = p.smtp(base+".email.smtp", e.SMTP)
	}

	names := make([]string, 0, len(n.Teams))
	for name := range n.Teams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if t := p.team(base+".teams."+name, name, n.Teams[name], out); t != nil {
			out.Teams = append(out.Teams, t)
		}
	}

	if boolOr(n.Enabled, true) {
		if len(n.Teams) == 0 {
			p.errorf("K22", base, "add notification.teams, or set notification.enabled: false",
				"notifications are enabled but there are no teams; /notify could never deliver")
		}
		p.pol.Notification = out
	}
}

// audienceProblem says why a is not a usable token audience.
func audienceProblem(a string) string {
	switch {
	case len(a) > 253:
		return fmt.Sprintf("is %d bytes long; the limit is 253", len(a))
	case strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "contains white space or control characters"
	}
	return ""
}

// callerProblem says why c is not namespace/serviceaccount.
func callerProblem(c string) string {
	ns, sa, ok := strings.Cut(c, "/")
	if !ok {
		return "has no '/'"
	}
	if msg := dnsLabel(ns); msg != "" {
		return "has an invalid namespace: " + msg
	}
	if msg := dnsSubdomain(sa); msg != "" {
		return "has an invalid service account name: " + msg
	}
	return ""
}

func (p *pass) team(base, name string, t *katalog.Team, n *policy.Notification) *policy.Team {
	if msg := dnsLabel(name); msg != "" {
		p.errorf("K19", base, "name teams with lowercase letters, digits and '-', e.g. platform",
			"team name %q is not a DNS-1123 label: %s", name, msg)
	}
	if t == nil {
		t = &katalog.Team{}
	}
	out := &policy.Team{Name: name, Interval: n.Interval}
	for i, a := range t.Email {
		f := fmt.Sprintf("%s.email[%d]", base, i)
		if _, err := mail.ParseAddress(a); err != nil {
			p.errorf("K19", f, "write one address, e.g. ops@example.com or Ops <ops@example.com>",
				"email %q does not parse: %v", a, err)
			continue
		}
		out.Email = append(out.Email, a)
	}
	for i, ch := range t.Slack {
		f := fmt.Sprintf("%s.slack[%d]", base, i)
		if ch == "" || strings.IndexFunc(ch, unicode.IsSpace) >= 0 {
			p.errorf("K19", f, "write a channel name or ID, e.g. #platform-alerts or C0123456",
				"Slack channel %q is empty or contains whitespace", ch)
			continue
		}
		out.Slack = append(out.Slack, ch)
	}
	out.WebhookURL = p.secretRef(base+".slackWebhookURLFrom", t.SlackWebhookURLFrom)

	hasGlobalWebhook := n.Slack != nil && n.Slack.WebhookURL != nil
	if out.WebhookURL == nil && len(t.Slack) == 0 && len(t.Email) == 0 && hasGlobalWebhook {
		out.WebhookURL = n.Slack.WebhookURL
	}
	if len(t.Email) == 0 && len(t.Slack) == 0 && t.SlackWebhookURLFrom == nil && !hasGlobalWebhook {
		p.errorf("K19", base, "add email addresses, slack channels (with slack.botTokenFrom) or slackWebhookURLFrom",
			"team %q has no channel; its notifications would go nowhere", name)
	}
	if len(t.Email) > 0 && n.SMTP == nil && !p.has(notificationBase+".email.smtp") {
		p.errorf("K20", base+".email", "add notification.email.smtp with host and from",
			"team %q sends email but notification.email.smtp is not set", name)
	}
	if len(t.Slack) > 0 && (n.Slack == nil || n.Slack.BotToken == nil) && !p.has(notificationBase+".slack.botTokenFrom") {
		p.errorf("K20", base+".slack", "add notification.slack.botTokenFrom, or use slackWebhookURLFrom instead of channels",
			"team %q posts to Slack channels but notification.slack.botTokenFrom is not set", name)
	}

	if t.Interval != "" {
		if v, ok := p.interval(base+".interval", t.Interval); ok {
			out.Interval = v
		}
	}
	out.Message = p.notifyTemplate(base+".message", t.Message)
	out.Subject = p.notifyTemplate(base+".subject", t.Subject)
	return out
}

// interval parses a throttle interval (K19).
func (p *pass) interval(field string, d katalog.Duration) (time.Duration, bool) {
	v, ok := p.duration("K19", field, d)
	if ok && v <= 0 {
		p.errorf("K19", field, "use a positive duration, e.g. 15m", "interval %s is not positive", d)
		return 0, false
	}
	return v, ok
}

// notifyTemplate parses a notification message or subject (K10); nil when unset.
func (p *pass) notifyTemplate(field, text string) *tmpl.Template {
	if text == "" {
		return nil
	}
	t, err := rules.ParseTemplate(field, text)
	if err != nil {
		p.errorf("K10", field, "see the allowed template functions in the docs", "template does not parse: %v", err)
		return nil
	}
	return t
}

func (p *pass) smtp(base string, s *katalog.SMTP) *policy.SMTP {
	out := &policy.SMTP{Host: s.Host, Port: defaultSMTPPort, TLS: defaultSMTPTLS, From: s.From, CAFile: s.CAFile}
	switch {
	case s.Host == "":
		p.errorf("K20", base, "add smtp.host, e.g. smtp.example.com", "smtp.host is missing")
	case strings.ContainsAny(s.Host, "/ \t") || strings.Contains(s.Host, "://"):
		p.errorf("K20", base+".host", "write the host name only; the port goes in smtp.port",
			"smtp.host %q is not a host name", s.Host)
	}
	if s.Port != nil {
		out.Port = *s.Port
		if *s.Port < 1 || *s.Port > 65535 {
			p.errorf("K20", base+".port", "use 587 (STARTTLS) or 465 (implicit TLS)", "smtp.port %d is not in 1..65535", *s.Port)
		}
	}
	switch s.TLS {
	case "":
	case "starttls", "implicit":
		out.TLS = s.TLS
	case "none":
		out.TLS = s.TLS
		p.warnf("K20", base+".tls", "use starttls or implicit unless the relay is on a trusted network",
			"smtp.tls is none: mail and credentials travel unencrypted")
	default:
		p.errorf("K20", base+".tls", "use starttls (default), implicit or none",
			"smtp.tls %q is not starttls, implicit or none", s.TLS)
	}
	if s.From == "" {
		p.errorf("K20", base, "add smtp.from, e.g. orkestra@example.com", "smtp.from is missing")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		p.errorf("K20", base+".from", "write one address, e.g. orkestra@example.com", "smtp.from %q does not parse: %v", s.From, err)
	}
	out.Username = p.secretRef(base+".usernameFrom", s.UsernameFrom)
	out.Password = p.secretRef(base+".passwordFrom", s.PasswordFrom)
	if (s.UsernameFrom == nil) != (s.PasswordFrom == nil) {
		p.errorf("K20", p.firstOf(base+".usernameFrom", base+".passwordFrom"), "give both usernameFrom and passwordFrom, or neither",
			"SMTP authentication needs both a username and a password")
	}
	if s.CAFile != "" && !filepath.IsAbs(s.CAFile) {
		p.errorf("K20", base+".caFile", "use an absolute path to a mounted file", "smtp.caFile %q is not an absolute path", s.CAFile)
	}
	return out
}

// secretRef checks a reference to a secret value (K20); nil when absent or
// invalid.
func (p *pass) secretRef(field string, r *katalog.SecretRef) *policy.SecretRef {
	if r == nil {
		return nil
	}
	switch {
	case r.Env == "" && r.File == "":
		p.errorf("K20", field, "write {env: NAME} or {file: /absolute/path}", "secret reference names neither env nor file")
	case r.Env != "" && r.File != "":
		p.errorf("K20", field, "keep one of env and file", "secret reference names both env and file")
	case r.Env != "":
		if msgs := validation.IsCIdentifier(r.Env); len(msgs) > 0 {
			p.errorf("K20", field+".env", "use letters, digits and '_', not starting with a digit",
				"env %q is not a valid environment variable name", r.Env)
			return nil
		}
		return &policy.SecretRef{Env: r.Env}
	default:
		if !filepath.IsAbs(r.File) {
			p.errorf("K20", field+".file", "use an absolute path to a mounted file, e.g. /var/run/secrets/orkestra/token",
				"file %q is not an absolute path", r.File)
			return nil
		}
		return &policy.SecretRef{File: filepath.Clean(r.File)}
	}
	return nil
}
