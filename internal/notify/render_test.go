package notify

import (
	"strings"
	"testing"
	"text/template"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

func tmpl(t *testing.T, text string) *template.Template {
	t.Helper()
	tp, err := rules.ParseTemplate("test", text)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func testEvent() *Event {
	return &Event{ID: "e1", KatalogName: "shop", CRName: "web-1", CRNamespace: "web", GVK: "web.example.com/v1/Website",
		CondKey: "Ready=False", Teams: []string{"platform"}, Subject: "not ready", Severity: "critical", Timestamp: t0,
		Data: map[string]any{"replicas": int64(3), "tags": []any{"a", "b"}}}
}

func TestRenderPrecedence(t *testing.T) {
	n := &policy.Notification{Message: tmpl(t, "default: {{ .subject }}"), Subject: tmpl(t, "DEF {{ .crName }}")}
	team := &policy.Team{Name: "platform", Message: tmpl(t, "team {{ .team }}: {{ .message }}"), Subject: tmpl(t, "[{{ .severity }}] {{ .subject }}")}
	ev := testEvent()
	ev.Message = "{{ .data.replicas }} replicas, tags {{ join \",\" .data.tags }}"
	ev.Subject = "{{ .crName }} not ready"

	r := render(ev, parseEventTemplates(ev), team, n)
	if r.Message != "team platform: 3 replicas, tags a,b" || r.Subject != "[critical] web-1 not ready" || len(r.Problems) > 0 {
		t.Errorf("team templates: %+v", r)
	}
	r = render(ev, parseEventTemplates(ev), &policy.Team{Name: "platform"}, n)
	if r.Message != "default: web-1 not ready" || r.Subject != "DEF web-1" {
		t.Errorf("default templates: %+v", r)
	}
	r = render(ev, parseEventTemplates(ev), &policy.Team{Name: "platform"}, &policy.Notification{})
	if r.Message != "3 replicas, tags a,b" || r.Subject != "web-1 not ready" {
		t.Errorf("event templates: %+v", r)
	}
	ev.Message = ""
	r = render(ev, parseEventTemplates(ev), &policy.Team{Name: "platform"}, &policy.Notification{})
	for _, want := range []string{"[critical] web-1 not ready", "web/web-1 (web.example.com/v1/Website)", "Ready=False", "shop", "2026-03-04T05:06:07Z"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("built-in message %q lacks %q", r.Message, want)
		}
	}
}

func TestRenderFallbacks(t *testing.T) {
	ev := testEvent()
	// An execution error in the team template: the built-in text, and the
	// problem reported.
	team := &policy.Team{Name: "platform", Message: tmpl(t, "{{ .data.replicas.x }}")}
	r := render(ev, parseEventTemplates(ev), team, &policy.Notification{})
	if len(r.Problems) != 1 || !strings.Contains(r.Message, "[critical] not ready") {
		t.Errorf("%+v", r)
	}
	// An event template that does not parse.
	ev.Subject = "{{ .crName"
	r = render(ev, parseEventTemplates(ev), &policy.Team{Name: "platform"}, &policy.Notification{})
	if len(r.Problems) != 1 || strings.Contains(r.Subject, "{{") || !strings.Contains(r.Subject, "web/web-1") {
		t.Errorf("%+v", r)
	}
	// Output explosion is cut off, not sent.
	ev = testEvent()
	ev.Data["big"] = strings.Repeat("x", 1000)
	ev.Message = "{{ range .data.tags }}{{ range $.data.tags }}{{ range $.data.tags }}" + strings.Repeat("{{ $.data.big }}", 10) + "{{ end }}{{ end }}{{ end }}"
	r = render(ev, parseEventTemplates(ev), &policy.Team{Name: "platform"}, &policy.Notification{})
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "exceeds") || len(r.Message) > maxRenderedBytes {
		t.Errorf("problems %v, message %d bytes", r.Problems, len(r.Message))
	}
	// A subject never carries a line break into a mail header.
	ev = testEvent()
	ev.Subject = "line one\r\nBcc: victim@example.com"
	r = render(ev, parseEventTemplates(ev), &policy.Team{Name: "platform"}, &policy.Notification{})
	if strings.ContainsAny(r.Subject, "\r\n") {
		t.Errorf("subject %q", r.Subject)
	}
}
