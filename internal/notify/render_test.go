package notify

import (
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

func parseT(t *testing.T, text string) *tmpl.Template {
	t.Helper()
	tp, err := rules.ParseTemplate("test", text)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func testEvent() *event {
	return &event{ID: "e1", KatalogName: "shop", CRName: "web-1", CRNamespace: "web", GVK: "web.example.com/v1/Website",
		CondKey: "Ready=False", Teams: []string{"platform"}, Subject: "not ready", Severity: "critical", Timestamp: t0,
		Data: map[string]any{"replicas": int64(3), "tags": []any{"a", "b"}}}
}

func TestRenderPrecedence(t *testing.T) {
	n := &policy.Notification{Message: parseT(t, "default: {{ .subject }}"), Subject: parseT(t, "DEF {{ .crName }}")}
	team := &policy.Team{Name: "platform", Message: parseT(t, `team {{ .team }}: {{ .data.replicas }} replicas, tags {{ join "," .data.tags }}; {{ .message }}`),
		Subject: parseT(t, "[{{ .severity }}] {{ .subject }}")}
	ev := testEvent()
	ev.Message = "the event's text"

	r := render(ev, team, n)
	if r.Message != "team platform: 3 replicas, tags a,b; the event's text" || r.Subject != "[critical] not ready" || len(r.Problems) > 0 {
		t.Errorf("team templates: %+v", r)
	}
	r = render(ev, &policy.Team{Name: "platform"}, n)
	if r.Message != "default: not ready" || r.Subject != "DEF web-1" {
		t.Errorf("default templates: %+v", r)
	}
	r = render(ev, &policy.Team{Name: "platform"}, &policy.Notification{})
	if r.Message != "the event's text" || r.Subject != "not ready" {
		t.Errorf("event text: %+v", r)
	}
	ev.Message = ""
	r = render(ev, &policy.Team{Name: "platform"}, &policy.Notification{})
	for _, want := range []string{"[critical] not ready", "web/web-1 (web.example.com/v1/Website)", "Ready=False", "shop", "2026-03-04T05:06:07Z"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("built-in message %q lacks %q", r.Message, want)
		}
	}
}

// The event's subject and message are data: sent as they are, never
// executed, whatever they hold.
func TestEventTextIsNotATemplate(t *testing.T) {
	ev := testEvent()
	ev.Subject = "{{ .crName }} subject"
	ev.Message = `{{ "x" | replace "x" "xxxxxxxxxx" | replace "x" "xxxxxxxxxx" }} {{ .data.replicas }}`
	r := render(ev, &policy.Team{Name: "platform"}, &policy.Notification{})
	if r.Subject != ev.Subject || r.Message != ev.Message || len(r.Problems) > 0 {
		t.Errorf("event text was interpreted: %+v", r)
	}
	// A team template printing them prints them as text.
	team := &policy.Team{Name: "platform", Message: parseT(t, "{{ .subject }} / {{ .message }}")}
	r = render(ev, team, &policy.Notification{})
	if r.Message != ev.Subject+" / "+ev.Message {
		t.Errorf("team template over event text: %q", r.Message)
	}
}

func TestRenderFallbacks(t *testing.T) {
	ev := testEvent()
	// An execution error in the team template: the built-in text, and the
	// problem reported.
	team := &policy.Team{Name: "platform", Message: parseT(t, "{{ .data.replicas.x }}")}
	r := render(ev, team, &policy.Notification{})
	if len(r.Problems) != 1 || !strings.Contains(r.Message, "[critical] not ready") {
		t.Errorf("%+v", r)
	}
	// Output explosion is cut off by the budget, not sent.
	ev.Data["big"] = strings.Repeat("x", 1000)
	team = &policy.Team{Name: "platform", Message: parseT(t, "{{ range .data.tags }}{{ range $.data.tags }}{{ range $.data.tags }}"+
		strings.Repeat("{{ $.data.big }}", 10)+"{{ end }}{{ end }}{{ end }}")}
	r = render(ev, team, &policy.Notification{})
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "budget") || len(r.Message) > maxRenderedBytes {
		t.Errorf("problems %v, message %d bytes", r.Problems, len(r.Message))
	}
	// A subject never carries a line break into a mail header.
	ev = testEvent()
	ev.Subject = "line one\r\nBcc: victim@example.com"
	r = render(ev, &policy.Team{Name: "platform"}, &policy.Notification{})
	if strings.ContainsAny(r.Subject, "\r\n") {
		t.Errorf("subject %q", r.Subject)
	}
}

// Values from the event are escaped in Slack text; the template's own
// markup is not.
func TestSlackEscaping(t *testing.T) {
	ev := testEvent()
	ev.Subject = "<!channel> & <https://evil.example|click>"
	ev.Data["who"] = "<@U123>"
	team := &policy.Team{Name: "platform", Message: parseT(t, "<!here> {{ .subject }} {{ .data.who }}")}
	r := render(ev, team, &policy.Notification{})
	if want := "<!here> &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; &lt;@U123&gt;"; r.Slack != want {
		t.Errorf("Slack text %q, want %q", r.Slack, want)
	}
	if want := "<!here> <!channel> & <https://evil.example|click> <@U123>"; r.Message != want {
		t.Errorf("email text %q, want %q", r.Message, want)
	}
	ev.Message = "<!everyone>"
	r = render(ev, &policy.Team{Name: "platform"}, &policy.Notification{})
	if r.Slack != "&lt;!everyone&gt;" {
		t.Errorf("event text to Slack: %q", r.Slack)
	}
}
