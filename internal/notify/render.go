package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

// maxRenderedBytes bounds what one template may produce. Slack cuts text at
// about 40,000 characters anyway.
const maxRenderedBytes = 32 << 10

// renderBudget bounds one rendering of a Katalog template over an event:
// the event is the caller's data (up to 64 KiB), so a range over it, nested
// ranges or a replace that multiplies it stop with an error, and the
// built-in text is sent instead.
var renderBudget = tmpl.Budget{Steps: 50_000, Output: maxRenderedBytes, Alloc: 1 << 20}

// rendered is what is sent to one team.
type rendered struct {
	Subject string
	Message string // for email
	Slack   string // for Slack: event values escaped
	// Problems are template errors that made a fallback necessary; they are
	// logged and reported in the 202 reason, never a reason to drop.
	Problems []string
}

// render produces the subject and messages for one team. The precedence is
// the team's template, then notification.defaults, then the event's own
// text, then a built-in default. The event's subject and message are data:
// templates read them as .subject and .message, and they are never parsed
// as templates themselves. The Slack text is rendered again over the event
// with &, < and > escaped in every value, so an event cannot mention
// <!channel> or plant a link; the template's own text may.
func render(ev *event, team *policy.Team, n *policy.Notification) rendered {
	var out rendered
	fail := func(what string, err error) {
		out.Problems = append(out.Problems, what+": "+err.Error())
	}
	data := templateData(ev, team.Name, nil)
	out.Subject = ev.Subject
	if t := firstTemplate(team.Subject, n.Subject); t != nil {
		if s, err := t.Render(data, renderBudget); err != nil {
			fail("subject template "+t.Name(), err)
		} else {
			out.Subject = s
		}
	}
	out.Subject = oneLine(out.Subject)
	if strings.TrimSpace(out.Subject) == "" {
		out.Subject = oneLine(plainSubject(ev))
	}

	t := firstTemplate(team.Message, n.Message)
	if t == nil {
		out.Message = ev.Message
		if strings.TrimSpace(out.Message) == "" {
			out.Message = plainMessage(ev)
		}
		out.Slack = slackEscape(out.Message)
		return out
	}
	m, err := t.Render(data, renderBudget)
	if err == nil {
		out.Slack, err = t.Render(templateData(ev, team.Name, slackEscape), renderBudget)
	}
	switch {
	case err != nil:
		fail("message template "+t.Name(), err)
		out.Message = plainMessage(ev)
		out.Slack = slackEscape(out.Message)
	case strings.TrimSpace(m) == "":
		out.Message = plainMessage(ev)
		out.Slack = slackEscape(out.Message)
	default:
		out.Message = m
	}
	return out
}

func firstTemplate(ts ...*tmpl.Template) *tmpl.Template {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}

// templateData is what templates see: the event's JSON field names, plus
// team (the team being rendered for). escape, when set, is applied to every
// string the event brings, map keys of data included.
func templateData(ev *event, team string, escape func(string) string) map[string]any {
	if escape == nil {
		escape = func(s string) string { return s }
	}
	teams := make([]any, len(ev.Teams))
	for i, t := range ev.Teams {
		teams[i] = escape(t)
	}
	var data any = map[string]any{}
	if ev.Data != nil {
		data = escapeValue(ev.Data, escape)
	}
	return map[string]any{
		"id":          escape(ev.ID),
		"katalogName": escape(ev.KatalogName),
		"crName":      escape(ev.CRName),
		"crNamespace": escape(ev.CRNamespace),
		"gvk":         escape(ev.GVK),
		"condKey":     escape(ev.CondKey),
		"team":        escape(team),
		"teamName":    escape(team),
		"teams":       teams,
		"subject":     escape(ev.Subject),
		"message":     escape(ev.Message),
		"severity":    ev.Severity,
		"timestamp":   ev.Timestamp.UTC().Format(time.RFC3339),
		"data":        data,
	}
}

// escapeValue copies a decoded JSON value with escape applied to strings.
func escapeValue(v any, escape func(string) string) any {
	switch v := v.(type) {
	case string:
		return escape(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[escape(k)] = escapeValue(x, escape)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = escapeValue(x, escape)
		}
		return out
	}
	return v
}

// slackEscaper escapes the three characters Slack's text format gives a
// meaning (mentions such as <!channel>, links <url|text>).
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// object names the object an event is about: namespace/name or name.
func object(ev *event) string {
	if ev.CRNamespace == "" {
		return ev.CRName
	}
	return ev.CRNamespace + "/" + ev.CRName
}

// plainSubject and plainMessage are the built-in texts, used when nothing
// else says what to send and when a template fails. They use no template,
// so they cannot fail.
func plainSubject(ev *event) string {
	s := ev.Subject
	if strings.TrimSpace(s) == "" {
		s = ev.CondKey
	}
	return fmt.Sprintf("[%s] %s: %s", ev.Severity, object(ev), s)
}

func plainMessage(ev *event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s\n", ev.Severity, oneLine(ev.Subject))
	fmt.Fprintf(&b, "object: %s (%s)\n", object(ev), ev.GVK)
	fmt.Fprintf(&b, "condition: %s\n", ev.CondKey)
	fmt.Fprintf(&b, "katalog: %s\n", ev.KatalogName)
	fmt.Fprintf(&b, "time: %s", ev.Timestamp.UTC().Format(time.RFC3339))
	if ev.Message != "" {
		b.WriteString("\n\n" + ev.Message)
	}
	return b.String()
}

// oneLine makes a subject safe for a mail header: no line breaks.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
