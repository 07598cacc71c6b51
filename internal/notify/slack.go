package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// deliveryError is a failed attempt. Retry says whether another attempt may
// succeed (network errors, 5xx, 408, 429, SMTP 4xx); After is the server's
// Retry-After, zero when it gave none.
type deliveryError struct {
	Msg   string
	Retry bool
	After time.Duration
}

func (e *deliveryError) Error() string { return e.Msg }

func permanent(format string, args ...any) error {
	return &deliveryError{Msg: fmt.Sprintf(format, args...)}
}

func temporary(format string, args ...any) error {
	return &deliveryError{Msg: fmt.Sprintf(format, args...), Retry: true}
}

// retryable reports whether err is worth another attempt, and after how
// long the server asked to wait.
func retryable(err error) (bool, time.Duration) {
	var de *deliveryError
	if errors.As(err, &de) {
		return de.Retry, de.After
	}
	return false, 0
}

// slackClient posts to Slack incoming webhooks and to the Web API's
// chat.postMessage. Neither the webhook URL nor the bot token ever appears
// in an error.
type slackClient struct {
	http   *http.Client
	apiURL string  // Web API base, e.g. https://slack.com/api
	token  *secret // bot token; nil without botTokenFrom
}

// maxSlackAnswer bounds how much of a Slack answer is read.
const maxSlackAnswer = 64 << 10

// webhook posts text to an incoming webhook. Slack answers 200 "ok", or an
// error code in the body with a 4xx (invalid_payload, channel_not_found...).
func (c *slackClient) webhook(ctx context.Context, hook *secret, text string) error {
	u, err := hook.Value()
	if err != nil {
		return permanent("%v", err)
	}
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		// Saying more would print part of the secret.
		return permanent("the Slack webhook URL from %s is not an http(s) URL", hook.source())
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	status, hdr, answer, err := c.post(ctx, u, "", body)
	if err != nil {
		return err
	}
	if status/100 == 2 {
		return nil
	}
	return httpError("Slack webhook", status, hdr, answer)
}

// postMessage posts text to one channel with chat.postMessage. The Web API
// answers HTTP 200 with {"ok": false, "error": "..."} for most failures,
// and 429 with Retry-After when rate limited.
func (c *slackClient) postMessage(ctx context.Context, channel, text string) error {
	if c.token == nil {
		return permanent("chat.postMessage needs notification.slack.botTokenFrom")
	}
	tok, err := c.token.Value()
	if err != nil {
		return permanent("%v", err)
	}
	body, _ := json.Marshal(map[string]string{"channel": channel, "text": text})
	status, hdr, answer, err := c.post(ctx, strings.TrimRight(c.apiURL, "/")+"/chat.postMessage", tok, body)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return httpError("Slack chat.postMessage", status, hdr, answer)
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(answer, &r); err != nil {
		return temporary("Slack chat.postMessage answered %d with a body that is not JSON: %s", status, snippet(answer))
	}
	if r.OK {
		return nil
	}
	switch r.Error {
	case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
		return &deliveryError{Msg: "Slack chat.postMessage to " + channel + ": " + r.Error, Retry: true, After: retryAfter(hdr)}
	case "":
		return permanent("Slack chat.postMessage to %s: ok is false without an error code", channel)
	}
	return permanent("Slack chat.postMessage to %s: %s", channel, snippet([]byte(r.Error)))
}

// post sends one JSON request. A transport error is retryable and is
// reported without the URL (it may hold the webhook's secret path).
func (c *slackClient) post(ctx context.Context, u, bearer string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, permanent("building the Slack request: %v", pathlessURL(err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "orkestra-gateway")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, temporary("Slack request failed: %v", pathlessURL(err))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxSlackAnswer))
	if err != nil {
		return 0, nil, nil, temporary("reading Slack's answer: %v", pathlessURL(err))
	}
	return resp.StatusCode, resp.Header, answer, nil
}

// httpError classifies a non-2xx answer: 408, 429 and 5xx are retried
// (honouring Retry-After), any other status is final.
func httpError(what string, status int, hdr http.Header, answer []byte) error {
	msg := fmt.Sprintf("%s answered %d %s", what, status, http.StatusText(status))
	if s := snippet(answer); s != "" {
		msg += ": " + s
	}
	if status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 {
		return &deliveryError{Msg: msg, Retry: true, After: retryAfter(hdr)}
	}
	return &deliveryError{Msg: msg}
}

// maxRetryAfter caps what a server may ask for; the event's max age caps
// the total anyway.
const maxRetryAfter = 10 * time.Minute

// retryAfter reads Retry-After: delay-seconds or an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// pathlessURL strips the URL from a *url.Error: a webhook URL is a secret.
func pathlessURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// snippet is the start of a response body, printable, for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return clip(s, 200)
}
