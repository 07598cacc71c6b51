package notify

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// maxRenderedBytes bounds what one template may produce: a template can
// range over data, and nested ranges grow quickly. Slack cuts text at about
// 40,000 characters anyway.
const maxRenderedBytes = 32 << 10

var errTooLong = fmt.Errorf("rendered text exceeds %d bytes", maxRenderedBytes)

// rendered is what is sent to one team.
type rendered struct {
	Subject string
	Message string
	// Problems are template errors that made a fallback necessary; they are
	// logged and reported in the 202 reason, never a reason to drop.
	Problems []string
}

// eventTemplates are the event's own subject and message, parsed once per
// event. A nil template means the text has no {{ and is used as is.
type eventTemplates struct {
	subject, message       *template.Template
	subjectErr, messageErr error
}

func parseEventTemplates(ev *Event) eventTemplates {
	var t eventTemplates
	if strings.Contains(ev.Subject, "{{") {
		t.subject, t.subjectErr = rules.ParseTemplate("subject", ev.Subject)
	}
	if strings.Contains(ev.Message, "{{") {
		t.message, t.messageErr = rules.ParseTemplate("message", ev.Message)
	}
	return t
}

// render produces the subject and message for one team. The precedence is
// the team's template, then notification.defaults, then the event's own
// text (itself a template), then a built-in default. Team and default
// templates see the event's subject and message already rendered, so
// "{{ .crName }}: {{ .subject }}" wraps whatever the caller sent.
func render(ev *Event, et eventTemplates, team *policy.Team, n *policy.Notification) rendered {
	var out rendered
	data := templateData(ev, team.Name)
	fail := func(what string, err error) {
		out.Problems = append(out.Problems, what+": "+err.Error())
	}

	subject := ev.Subject
	switch {
	case et.subjectErr != nil:
		fail("event subject", et.subjectErr)
		subject = plainSubject(ev)
	case et.subject != nil:
		s, err := execute(et.subject, data)
		if err != nil {
			fail("event subject", err)
			s = plainSubject(ev)
		}
		subject = s
	}
	data["subject"] = subject

	message := ev.Message
	switch {
	case et.messageErr != nil:
		fail("event message", et.messageErr)
		message = plainMessage(ev, subject)
	case et.message != nil:
		m, err := execute(et.message, data)
		if err != nil {
			fail("event message", err)
			m = plainMessage(ev, subject)
		}
		message = m
	}
	data["message"] = message

	out.Subject = subject
	if t := firstTemplate(team.Subject, n.Subject); t != nil {
		s, err := execute(t, data)
		if err != nil {
			fail("subject template "+t.Name(), err)
		} else {
			out.Subject = s
		}
	}
	out.Subject = oneLine(out.Subject)
	if strings.TrimSpace(out.Subject) == "" {
		out.Subject = oneLine(plainSubject(ev))
	}

	out.Message = message
	if t := firstTemplate(team.Message, n.Message); t != nil {
		m, err := execute(t, data)
		if err != nil {
			fail("message template "+t.Name(), err)
			out.Message = plainMessage(ev, subject)
		} else {
			out.Message = m
		}
	}
	if strings.TrimSpace(out.Message) == "" {
		out.Message = plainMessage(ev, subject)
	}
	return out
}

func firstTemplate(ts ...*template.Template) *template.Template {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}

// templateData is what templates see: the event's JSON field names, plus
// team (the team being rendered for).
func templateData(ev *Event, team string) map[string]any {
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	teams := make([]any, len(ev.Teams))
	for i, t := range ev.Teams {
		teams[i] = t
	}
	return map[string]any{
		"id":          ev.ID,
		"katalogName": ev.KatalogName,
		"crName":      ev.CRName,
		"crNamespace": ev.CRNamespace,
		"gvk":         ev.GVK,
		"condKey":     ev.CondKey,
		"team":        team,
		"teamName":    team,
		"teams":       teams,
		"subject":     ev.Subject,
		"message":     ev.Message,
		"severity":    ev.Severity,
		"timestamp":   ev.Timestamp.UTC().Format(time.RFC3339),
		"data":        data,
	}
}

// execute runs t with a bound on the output.
func execute(t *template.Template, data any) (string, error) {
	w := &limitedBuilder{max: maxRenderedBytes}
	if err := t.Execute(w, data); err != nil {
		if errors.Is(err, errTooLong) {
			return "", errTooLong
		}
		return "", err
	}
	return w.b.String(), nil
}

type limitedBuilder struct {
	b   strings.Builder
	max int
}

func (w *limitedBuilder) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errTooLong
	}
	return w.b.Write(p)
}

// object names the object an event is about: namespace/name or name.
func object(ev *Event) string {
	if ev.CRNamespace == "" {
		return ev.CRName
	}
	return ev.CRNamespace + "/" + ev.CRName
}

// plainSubject and plainMessage are the built-in texts, used when nothing
// else says what to send and when a template fails. They use no template,
// so they cannot fail.
func plainSubject(ev *Event) string {
	s := ev.Subject
	if strings.Contains(s, "{{") || strings.TrimSpace(s) == "" {
		s = ev.CondKey
	}
	return fmt.Sprintf("[%s] %s: %s", ev.Severity, object(ev), s)
}

func plainMessage(ev *Event, subject string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s\n", ev.Severity, subject)
	fmt.Fprintf(&b, "object: %s (%s)\n", object(ev), ev.GVK)
	fmt.Fprintf(&b, "condition: %s\n", ev.CondKey)
	fmt.Fprintf(&b, "katalog: %s\n", ev.KatalogName)
	fmt.Fprintf(&b, "time: %s", ev.Timestamp.UTC().Format(time.RFC3339))
	if ev.Message != "" && !strings.Contains(ev.Message, "{{") {
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
