package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
)

func TestAuthentication(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	ev := eventBody("platform")

	r := h.post("", ev, "").want(t, http.StatusUnauthorized)
	if !strings.Contains(r.hdr.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(r.ans.Error, "bearer token") {
		t.Errorf("401 without token: %v %+v", r.hdr, r.ans)
	}
	// Basic credentials are not a bearer token.
	req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/notify", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("orkestra-runtime", runtimeToken)
	resp, err := h.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Basic auth: %d, want 401", resp.StatusCode)
	}

	r = h.post("not-a-token", ev, "").want(t, http.StatusUnauthorized)
	if strings.Contains(r.raw, "not-a-token") {
		t.Errorf("the answer echoes the token: %s", r.raw)
	}

	r = h.post(strangerToken, ev, "").want(t, http.StatusForbidden)
	if !strings.Contains(r.ans.Error, "system:serviceaccount:default:stranger") || !strings.Contains(r.ans.Error, "allowedCallers") {
		t.Errorf("403 should name the identity and the fix: %q", r.ans.Error)
	}

	r = h.post(runtimeToken, ev, "").want(t, http.StatusAccepted)
	if r.ans.Status != statusQueued || r.ans.ID == "" {
		t.Errorf("202 body: %+v", r.ans)
	}

	if got := h.srv.m.authFailures.WithLabelValues(authMissing).Value(); got != 2 {
		t.Errorf("missing-token failures = %v, want 2", got)
	}
	if got := h.srv.m.authFailures.WithLabelValues(authInvalid).Value(); got != 1 {
		t.Errorf("invalid-token failures = %v, want 1", got)
	}
	if got := h.srv.m.authFailures.WithLabelValues(authForbidden).Value(); got != 1 {
		t.Errorf("forbidden failures = %v, want 1", got)
	}
	if strings.Contains(h.logs.String(), runtimeToken) || strings.Contains(h.logs.String(), strangerToken) {
		t.Errorf("a token reached the logs:\n%s", h.logs.String())
	}
}

func TestAuthenticationCacheAndOutage(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	for i := range 3 {
		h.post(runtimeToken, eventBody("platform", "crName", "obj-"+string(rune('a'+i))), "").want(t, http.StatusAccepted)
	}
	if n := h.reviewer.count(); n != 1 {
		t.Errorf("3 requests with one token made %d TokenReviews, want 1 (cached)", n)
	}
	for _, tok := range h.reviewer.tokens {
		if tok != runtimeToken {
			t.Errorf("reviewed %q", tok)
		}
	}

	// The API server is unreachable: no decision. Nothing but 401 is
	// answered before authentication, with Retry-After and the reason; the
	// failure is not cached.
	h.reviewer.mu.Lock()
	h.reviewer.err = errAPIDown
	h.reviewer.mu.Unlock()
	r := h.post("fresh-token", eventBody("platform"), "").want(t, http.StatusUnauthorized)
	if r.hdr.Get("Retry-After") == "" || !strings.Contains(r.ans.Error, "cannot be verified now") {
		t.Errorf("401 for an unverifiable token: %v %+v", r.hdr, r.ans)
	}
	h.reviewer.mu.Lock()
	h.reviewer.err = nil
	h.reviewer.users["fresh-token"] = serviceAccountUser("orkestra-system", "orkestra-runtime")
	h.reviewer.mu.Unlock()
	h.post("fresh-token", eventBody("platform", "crName", "other"), "").want(t, http.StatusAccepted)
}

func TestRequestEnvelope(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	ev := eventBody("platform")

	r := h.do(http.MethodGet, runtimeToken, "", nil, "").want(t, http.StatusMethodNotAllowed)
	if r.hdr.Get("Allow") != http.MethodPost {
		t.Errorf("405 Allow = %q", r.hdr.Get("Allow"))
	}
	h.do(http.MethodPut, runtimeToken, "application/json", ev, "").want(t, http.StatusMethodNotAllowed)

	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"} {
		r := h.do(http.MethodPost, runtimeToken, ct, ev, "").want(t, http.StatusUnsupportedMediaType)
		if !strings.Contains(r.ans.Error, "application/json") && !strings.Contains(r.ans.Error, "UTF-8") {
			t.Errorf("415 for %q: %q", ct, r.ans.Error)
		}
	}
	h.do(http.MethodPost, runtimeToken, "application/json; charset=UTF-8", eventBody("platform", "crName", "charset"), "").want(t, http.StatusAccepted)

	big := eventBody("platform", "message", strings.Repeat("x", maxBodyBytes))
	r = h.post(runtimeToken, big, "").want(t, http.StatusRequestEntityTooLarge)
	if !strings.Contains(r.ans.Error, "65536") {
		t.Errorf("413 should state the limit: %q", r.ans.Error)
	}

	r = h.post(runtimeToken, `{"crName": `, "").want(t, http.StatusBadRequest)
	if !strings.Contains(r.ans.Error, "not a JSON object") {
		t.Errorf("malformed JSON: %+v", r.ans)
	}
	r = h.post(runtimeToken, eventBody("platform", "crName", nil, "condKey", nil, "severity", "loud"), "").want(t, http.StatusBadRequest)
	var names []string
	for _, f := range r.ans.Fields {
		names = append(names, f.Field)
	}
	if strings.Join(names, ",") != "crName,condKey,severity" {
		t.Errorf("400 fields = %v, want crName, condKey, severity; body %s", names, r.raw)
	}

	h.post(runtimeToken, ev, "?wait=maybe").want(t, http.StatusBadRequest)

	// 404 for an unknown team, naming it and the known ones; nothing is sent.
	r = h.post(runtimeToken, eventBody("", "teamName", nil, "teams", []string{"platform", "nobody"}), "").want(t, http.StatusNotFound)
	if !strings.Contains(r.ans.Error, `"nobody"`) || !strings.Contains(r.ans.Error, `"ops"`) {
		t.Errorf("404: %q", r.ans.Error)
	}
	h.waitIdle(time.Second)
	if n := len(h.slack.Requests()); n != 1 {
		t.Errorf("slack got %d requests, want 1 (only the charset event)", n)
	}
	if got := h.srv.m.requests.WithLabelValues("404").Value(); got != 1 {
		t.Errorf("requests{code=404} = %v", got)
	}
}

func TestRenderingReachesSlack(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	h.post(runtimeToken, eventBody("", "teamName", nil, "teams", []string{"platform", "ops"},
		"message", "ready 1 of 3", "data", map[string]any{"ready": 1, "want": 3}), "").want(t, http.StatusAccepted)
	got := h.slack.WaitDelivered(t, 2, 5*time.Second)
	byKind := map[string]notifytest.SlackRequest{}
	for _, r := range got {
		byKind[r.Kind] = r
	}
	// platform: the team template wraps the subject.
	if w := byKind["webhook"]; w.Text != "web/web-1: web-1 is not ready" || w.Path != "/hooks/platform-secret-path" {
		t.Errorf("webhook got %+v", w)
	}
	// ops: no template: the event's own message.
	if p := byKind["chat.postMessage"]; p.Text != "ready 1 of 3" || p.Channel != "#ops" || p.Auth != "Bearer xoxb-test-token" {
		t.Errorf("chat.postMessage got %+v", p)
	}
}

func TestTemplateErrorFallsBack(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: strings.Replace(slackKatalog, "      interval: 1m\n", "      interval: 1m\n      message: \"{{ .data.x.y }}\"\n", 1)})
	// .data.x is a string: reading .y of it is an execution error.
	r := h.post(runtimeToken, eventBody("ops", "data", map[string]any{"x": "s"}), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusQueued || !strings.Contains(r.ans.Reason, "template error") {
		t.Errorf("202 should report the fallback: %+v", r.ans)
	}
	got := h.slack.WaitDelivered(t, 1, 5*time.Second)
	if !strings.Contains(got[0].Text, "[warning] web-1 is not ready") || !strings.Contains(got[0].Text, "web/web-1") {
		t.Errorf("fallback text = %q", got[0].Text)
	}
	if !strings.Contains(h.logs.String(), "template failed") {
		t.Error("the template error was not logged")
	}
	// An event text that looks like a template is text.
	h.post(runtimeToken, eventBody("platform", "crName", "web-2", "subject", "{{ .crName"), "").want(t, http.StatusAccepted)
	got = h.slack.WaitDelivered(t, 2, 5*time.Second)
	if got[1].Text != "web/web-2: {{ .crName" {
		t.Errorf("event subject through the team template: %q", got[1].Text)
	}
	if got := h.srv.m.renderErrors.Value(); got != 1 {
		t.Errorf("render errors = %v, want 1", got)
	}
}

func TestThrottleAndDuplicates(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	h.post(runtimeToken, eventBody("ops"), "").want(t, http.StatusAccepted)

	// Same key within the team's 1m interval: suppressed, said so.
	h.clock.Advance(30 * time.Second)
	r := h.post(runtimeToken, eventBody("ops", "subject", "again"), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusSuppressed || !strings.Contains(r.ans.Reason, "throttled") || !strings.Contains(r.ans.Reason, "1m") {
		t.Errorf("second event: %+v", r.ans)
	}
	// Any other part of the key is another key.
	for _, kv := range [][]any{{"crName", "web-2"}, {"crNamespace", "other"}, {"condKey", "Degraded"}, {"katalogName", "other"}} {
		h.post(runtimeToken, eventBody("ops", kv...), "").want(t, http.StatusAccepted)
	}
	// After the interval the same key is delivered again.
	h.clock.Advance(31 * time.Second)
	r = h.post(runtimeToken, eventBody("ops", "subject", "third"), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusQueued {
		t.Errorf("after the interval: %+v", r.ans)
	}
	h.waitIdle(5 * time.Second)
	if n := len(h.slack.Delivered()); n != 6 {
		t.Errorf("delivered %d, want 6 (1 + 4 other keys + 1 after the interval)", n)
	}

	// Duplicate ids: suppressed within the interval even when the key
	// differs, delivered after it.
	h.post(runtimeToken, eventBody("ops", "id", "ev-42", "crName", "dup-a"), "").want(t, http.StatusAccepted)
	r = h.post(runtimeToken, eventBody("ops", "id", "ev-42", "crName", "dup-b"), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusSuppressed || r.ans.ID != "ev-42" || !strings.Contains(r.ans.Reason, "duplicate id") {
		t.Errorf("duplicate id: %+v", r.ans)
	}
	h.clock.Advance(61 * time.Second)
	r = h.post(runtimeToken, eventBody("ops", "id", "ev-42", "crName", "dup-c"), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusQueued {
		t.Errorf("same id after the interval: %+v", r.ans)
	}
	h.waitIdle(5 * time.Second)
	if n := len(h.slack.Delivered()); n != 8 {
		t.Errorf("delivered %d, want 8", n)
	}
	if got := h.srv.m.suppressed.WithLabelValues(suppressedThrottled).Value(); got != 1 {
		t.Errorf("suppressed{throttled} = %v", got)
	}
	if got := h.srv.m.suppressed.WithLabelValues(suppressedDuplicate).Value(); got != 1 {
		t.Errorf("suppressed{duplicate} = %v", got)
	}
}

func TestFailedDeliveryReleasesThrottle(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	h.slack.Push(notifytest.Answer{Error: "channel_not_found"})
	r := h.post(runtimeToken, eventBody("ops"), "?wait=true").want(t, http.StatusBadGateway)
	if r.ans.Status != statusFailed || !strings.Contains(r.ans.Reason, "channel_not_found") {
		t.Errorf("502 body: %+v", r.ans)
	}
	// The failed key does not hold back the caller's retry.
	r = h.post(runtimeToken, eventBody("ops"), "?wait=true").want(t, http.StatusOK)
	if r.ans.Status != statusDelivered {
		t.Errorf("retry: %+v", r.ans)
	}
	if got := h.srv.m.deliveries.WithLabelValues(destSlackAPI, resultFailed).Value(); got != 1 {
		t.Errorf("deliveries{failed} = %v", got)
	}
	if !strings.Contains(h.logs.String(), "notification delivery failed") {
		t.Error("the final failure was not logged")
	}
}

func TestWait(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	r := h.post(runtimeToken, eventBody("platform", "id", "w-1"), "?wait=true").want(t, http.StatusOK)
	if r.ans.ID != "w-1" || r.ans.Status != statusDelivered {
		t.Errorf("200 body: %+v", r.ans)
	}
	if n := len(h.slack.Delivered()); n != 1 {
		t.Errorf("answered before delivery: %d delivered", n)
	}

	// A permanent 4xx is not retried, and the caller learns why.
	h.slack.Push(notifytest.Answer{Status: http.StatusNotFound})
	r = h.post(runtimeToken, eventBody("platform", "crName", "gone"), "?wait=true").want(t, http.StatusBadGateway)
	if !strings.Contains(r.ans.Reason, "404") {
		t.Errorf("502 reason: %q", r.ans.Reason)
	}
	if n := len(h.slack.Requests()); n != 2 {
		t.Errorf("a 404 was retried: %d requests", n)
	}
	// The secret webhook path never reaches an answer or a log.
	if strings.Contains(r.raw, "platform-secret-path") || strings.Contains(h.logs.String(), "platform-secret-path") {
		t.Errorf("the webhook URL leaked:\n%s\n%s", r.raw, h.logs.String())
	}

	// Suppressed: nothing to wait for.
	r = h.post(runtimeToken, eventBody("platform", "id", "w-1"), "?wait=true").want(t, http.StatusAccepted)
	if r.ans.Status != statusSuppressed {
		t.Errorf("suppressed with wait: %+v", r.ans)
	}
}

func TestWaitLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) { o.WaitLimit = 300 * time.Millisecond }})
	h.slack.Down(notifytest.Answer{Status: http.StatusServiceUnavailable})
	start := time.Now()
	r := h.post(runtimeToken, eventBody("platform"), "?wait=true").want(t, http.StatusBadGateway)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("wait took %s, limit 300ms", el)
	}
	if !strings.Contains(r.ans.Reason, "503") || !strings.Contains(r.ans.Reason, "giving up") {
		t.Errorf("reason: %q", r.ans.Reason)
	}
	// 502 means final: nothing is retried afterwards.
	n := len(h.slack.Requests())
	time.Sleep(200 * time.Millisecond)
	if m := len(h.slack.Requests()); m != n {
		t.Errorf("retried after the 502: %d -> %d requests", n, m)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	h.slack.Push(notifytest.Answer{Status: http.StatusTooManyRequests, RetryAfter: "2"})
	h.post(runtimeToken, eventBody("platform"), "").want(t, http.StatusAccepted)
	got := h.slack.WaitDelivered(t, 1, 10*time.Second)
	reqs := h.slack.Requests()
	if len(reqs) != 2 || reqs[0].Status != http.StatusTooManyRequests {
		t.Fatalf("requests: %+v", reqs)
	}
	if gap := got[0].At.Sub(reqs[0].At); gap < 2*time.Second {
		t.Errorf("retried after %s, Retry-After asked for 2s", gap)
	}
	if got := h.srv.m.retries.WithLabelValues(destSlackWebhook).Value(); got != 1 {
		t.Errorf("retries = %v, want 1", got)
	}
}

func TestRetryClassification(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) { o.AttemptTimeout = 200 * time.Millisecond }})
	// 500, 408, ok:false ratelimited and a hung request are retried.
	h.slack.Push(
		notifytest.Answer{Status: http.StatusInternalServerError},
		notifytest.Answer{Status: http.StatusRequestTimeout},
		notifytest.Answer{Error: "ratelimited"},
		notifytest.Answer{Hang: true},
	)
	h.post(runtimeToken, eventBody("ops"), "?wait=true").want(t, http.StatusOK)
	if n := len(h.slack.Requests()); n != 5 {
		t.Errorf("%d requests, want 5 (4 retried failures, 1 success)", n)
	}
	// 400, 403 and ok:false invalid_auth are final at once.
	for i, a := range []notifytest.Answer{{Status: http.StatusBadRequest}, {Status: http.StatusForbidden}, {Error: "invalid_auth"}} {
		h.slack.Push(a)
		before := len(h.slack.Requests())
		h.post(runtimeToken, eventBody("ops", "crName", "final-"+string(rune('a'+i))), "?wait=true").want(t, http.StatusBadGateway)
		if n := len(h.slack.Requests()) - before; n != 1 {
			t.Errorf("%+v: %d attempts, want 1", a, n)
		}
	}
}

func TestQueueFull(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, NoStart: true, Modify: func(o *Options) { o.QueueSize = 2 }})
	h.post(runtimeToken, eventBody("platform", "crName", "a"), "").want(t, http.StatusAccepted)
	h.post(runtimeToken, eventBody("platform", "crName", "b"), "").want(t, http.StatusAccepted)
	r := h.post(runtimeToken, eventBody("platform", "crName", "c"), "").want(t, http.StatusServiceUnavailable)
	if r.hdr.Get("Retry-After") == "" || !strings.Contains(r.ans.Error, "slack-webhook queue is full") {
		t.Errorf("503: %v %+v", r.hdr, r.ans)
	}
	// Another destination is not affected.
	h.post(runtimeToken, eventBody("ops", "crName", "c"), "").want(t, http.StatusAccepted)
	if got := h.srv.m.depth.WithLabelValues(destSlackWebhook).Value(); got != 2 {
		t.Errorf("queue depth = %v, want 2", got)
	}
	if got := h.srv.m.queueFull.WithLabelValues(destSlackWebhook).Value(); got != 1 {
		t.Errorf("queue full = %v, want 1", got)
	}
	if got := h.srv.m.queueFull.WithLabelValues(destSlackAPI).Value(); got != 0 {
		t.Errorf("queue full of another destination = %v, want 0", got)
	}
	// The refused event held no throttle key: once there is room it goes.
	h.srv.Start()
	h.waitIdle(5 * time.Second)
	r = h.post(runtimeToken, eventBody("platform", "crName", "c"), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusQueued {
		t.Errorf("after the queue drained: %+v", r.ans)
	}
}

func TestDrainDeliversQueued(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, NoStart: true})
	for i := range 5 {
		h.post(runtimeToken, eventBody("platform", "crName", "obj-"+string(rune('a'+i))), "").want(t, http.StatusAccepted)
	}
	h.srv.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if n := len(h.slack.Delivered()); n != 5 {
		t.Errorf("delivered %d of 5 before Drain returned", n)
	}
	r := h.post(runtimeToken, eventBody("platform", "crName", "late"), "").want(t, http.StatusServiceUnavailable)
	if r.hdr.Get("Retry-After") == "" || !strings.Contains(r.ans.Error, "shutting down") {
		t.Errorf("during drain: %v %+v", r.hdr, r.ans)
	}
}

// A delivery cut off mid-attempt by the drain deadline is put back once
// and reported: the worker stops instead of taking it again (on the old
// code it retried millions of times on its cancelled context until the
// event's deadline, and Drain waited for it).
func TestDrainMidAttempt(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	h.slack.Down(notifytest.Answer{Hang: true})
	h.post(runtimeToken, eventBody("platform", "id", "hung"), "").want(t, http.StatusAccepted)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.slack.Requests()) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.srv.Drain(ctx) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "1 deliveries") {
			t.Errorf("Drain = %v, want 1 delivery left", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Drain did not return: the worker keeps retrying after shutdown")
	}
	if n := len(h.slack.Requests()); n != 1 {
		t.Errorf("%d attempts, want the one cut off by the drain deadline", n)
	}
	if !strings.Contains(h.logs.String(), "attempts=1 ") {
		t.Errorf("the leftover is not reported with its one attempt:\n%s", h.logs.String())
	}
}

func TestDrainDeadlineReportsLeftovers(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog})
	h.slack.Down(notifytest.Answer{Status: http.StatusServiceUnavailable})
	waited := make(chan response, 1)
	go func() { waited <- h.post(runtimeToken, eventBody("platform", "id", "left-1"), "?wait=true") }()
	h.post(runtimeToken, eventBody("ops", "id", "left-2"), "").want(t, http.StatusAccepted)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.slack.Requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := h.srv.Drain(ctx)
	if err == nil || !strings.Contains(err.Error(), "2 deliveries") {
		t.Fatalf("Drain = %v, want 2 deliveries left", err)
	}
	logs := h.logs.String()
	for _, id := range []string{"left-1", "left-2"} {
		if !strings.Contains(logs, "left undelivered at shutdown") || !strings.Contains(logs, "id="+id) {
			t.Errorf("leftover %s not logged by id:\n%s", id, logs)
		}
	}
	r := <-waited
	r.want(t, http.StatusBadGateway)
	if !strings.Contains(r.ans.Reason, "shut down") {
		t.Errorf("waiting caller: %+v", r.ans)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) {
		o.MaxInFlight = 1
		o.AttemptTimeout = time.Second
	}})
	h.slack.Push(notifytest.Answer{Hang: true})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.post(runtimeToken, eventBody("platform"), "?wait=true")
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(h.slack.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r := h.post(runtimeToken, eventBody("ops"), "").want(t, http.StatusServiceUnavailable)
	if r.hdr.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	<-done
}

func TestDisabled(t *testing.T) {
	s, err := NewServer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	ts := httptest.NewServer(s.handler())
	defer ts.Close()
	resp, err := ts.Client().Post(ts.URL+"/notify", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("disabled: %d, want 404", resp.StatusCode)
	}
	if err := s.Drain(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestNewServerRequiresReviewer(t *testing.T) {
	pol := compile(t, katalogHead+strings.ReplaceAll(slackKatalog, "$SLACK_API", "https://slack.example.com/api"))
	if _, err := NewServer(Options{Policy: pol}); err == nil || !strings.Contains(err.Error(), "TokenReviewer") {
		t.Errorf("NewServer without a reviewer: %v", err)
	}
}

// Before authentication nothing but 401 is answered: not 405, 415, 413 or
// the 503s of a draining gateway or a full queue.
func TestOnly401BeforeAuthentication(t *testing.T) {
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, NoStart: true, Modify: func(o *Options) { o.QueueSize = 1 }})
	h.post(runtimeToken, eventBody("platform", "crName", "fills-the-queue"), "").want(t, http.StatusAccepted)
	h.post(runtimeToken, eventBody("platform", "crName", "full"), "").want(t, http.StatusServiceUnavailable)
	for _, tok := range []string{"", "not-a-token"} {
		h.do(http.MethodGet, tok, "", nil, "").want(t, http.StatusUnauthorized)
		h.do(http.MethodPost, tok, "text/plain", "x", "").want(t, http.StatusUnauthorized)
		h.post(tok, eventBody("platform", "message", strings.Repeat("x", maxBodyBytes)), "").want(t, http.StatusUnauthorized)
		h.post(tok, eventBody("platform", "crName", "full"), "").want(t, http.StatusUnauthorized)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = h.srv.Drain(ctx)
	h.post("", eventBody("platform"), "").want(t, http.StatusUnauthorized)
	h.post(runtimeToken, eventBody("platform"), "").want(t, http.StatusServiceUnavailable)
}

// An allowed caller over its rate gets a 429 with Retry-After, held for
// the refusal delay (a flood then cannot spin the CPU); the others are not
// affected.
func TestCallerRateLimit(t *testing.T) {
	const hold = 300 * time.Millisecond
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) {
		o.CallerRate, o.CallerBurst = 0.01, 3
		o.Policy.AllowedCallers = append(o.Policy.AllowedCallers, "default/stranger")
		o.RefusalDelay = hold
	}})
	for i := range 3 {
		h.post(runtimeToken, eventBody("platform", "crName", "c-"+strconv.Itoa(i)), "").want(t, http.StatusAccepted)
	}
	start := time.Now()
	r := h.post(runtimeToken, eventBody("platform", "crName", "c-4"), "").want(t, http.StatusTooManyRequests)
	if held := time.Since(start); held < hold {
		t.Errorf("the 429 was sent after %s, before the refusal delay of %s", held, hold)
	}
	if ra, err := strconv.Atoi(r.hdr.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("429 Retry-After %q", r.hdr.Get("Retry-After"))
	}
	h.post(strangerToken, eventBody("platform", "crName", "other-caller"), "").want(t, http.StatusAccepted)
	if got := h.srv.m.limited.WithLabelValues(limitCaller).Value(); got != 1 {
		t.Errorf("limited{caller} = %v", got)
	}
}

// Requests still being authenticated hold no in-flight slot: with every
// slot taken by TokenReviews in progress, nothing is refused 503.
func TestAuthenticationHoldsNoSlot(t *testing.T) {
	slow := &slowReviewer{fakeReviewer: newFakeReviewer(), release: make(chan struct{})}
	h := newHarness(t, harnessOptions{Katalog: slackKatalog, Modify: func(o *Options) {
		o.MaxInFlight = 1
		o.Reviewer = slow
	}})
	done := make(chan int, 3)
	for i := range 3 {
		go func() { done <- h.post("pending-"+strconv.Itoa(i), eventBody("platform"), "").code }()
	}
	time.Sleep(100 * time.Millisecond)
	if len(h.srv.busy) != 0 {
		t.Errorf("%d in-flight slots held by unauthenticated requests", len(h.srv.busy))
	}
	close(slow.release)
	for range 3 {
		if code := <-done; code != http.StatusUnauthorized {
			t.Errorf("pending token: %d, want 401", code)
		}
	}
}
