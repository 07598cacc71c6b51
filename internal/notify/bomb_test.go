package notify

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// A short event message with nested replace over the event's own data
// would build a string of 206 MiB if it were executed as a template. The
// event's text is data: the request allocates a few KiB.
func TestEventReplaceBomb(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, NoStart: true})
	msg := `{{ .data.a | replace "a" .data.a | replace "a" .data.a }}`
	ev := eventBody("ops", "message", msg, "data", map[string]any{"a": strings.Repeat("a", 600)})
	h.post(runtimeToken, eventBody("ops", "crName", "warm-up"), "").want(t, http.StatusAccepted)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := h.post(runtimeToken, ev, "").want(t, http.StatusAccepted)
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte message with nested replace: %.1f MiB allocated while handling the request", len(msg), float64(grew)/(1<<20))
	if grew > 16<<20 {
		t.Errorf("handling a %d-byte message allocated %.1f MiB: the event's text must not run as a template", len(msg), float64(grew)/(1<<20))
	}
	if r.ans.Status != statusQueued {
		t.Errorf("%+v", r.ans)
	}
}

// Nested ranges over a list in a 64 KiB body would run for hours as a
// template. In the event's text it is text; in a Katalog template the step
// budget stops it, and the built-in text is sent.
func TestRangeBomb(t *testing.T) {
	list := make([]any, 20_000)
	for i := range list {
		list[i] = 1
	}
	bomb := `{{ range .data.l }}{{ range $.data.l }}{{ range $.data.l }}{{ end }}{{ end }}{{ end }}`
	// In the event's text.
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, NoStart: true})
	r := h.post(runtimeToken, eventBody("ops", "message", bomb, "data", map[string]any{"l": list}), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusQueued || r.ans.Reason != "" {
		t.Errorf("event text: %+v", r.ans)
	}
	// In the team's template.
	h = newHarness(t, harnessOptions{Katalog: strings.Replace(slackKatalog, "      interval: 1m\n", "      interval: 1m\n      message: '"+bomb+"'\n", 1), NoStart: true})
	r = h.post(runtimeToken, eventBody("ops", "data", map[string]any{"l": list}), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusQueued || !strings.Contains(r.ans.Reason, "budget") {
		t.Errorf("team template: %+v", r.ans)
	}
}
