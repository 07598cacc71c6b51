package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// A review type supplies decoding and answering; the envelope does the
// rest. Every endpoint of one listener shares a Listener and its budget.
func ExampleNew() {
	type ping struct{ UID string }
	review := webhook.Review[*ping]{
		Kind: "PingReview",
		Decode: func(body []byte) (*ping, error) {
			var p ping
			if err := json.Unmarshal(body, &p); err != nil {
				return nil, fmt.Errorf("malformed PingReview: %v", err)
			}
			return &p, nil
		},
		Answer: func(_ context.Context, p *ping) (net.Buffers, error) {
			return net.Buffers{[]byte(`{"pong":"`), []byte(p.UID), []byte(`"}`)}, nil
		},
		UID:   func(p *ping) string { return p.UID },
		Attrs: func(p *ping) []any { return []any{"uid", p.UID} },
	}
	l := webhook.NewListener(webhook.ListenerOptions{MaxBytesInFlight: 1 << 20})
	h := webhook.New("ping", review, webhook.Options{MaxBodyBytes: 64, Listener: l})

	for _, body := range []string{`{"UID":"a1"}`, `{"UID":`, `{"UID":"` + strings.Repeat("x", 100) + `"}`} {
		r := httptest.NewRequest(http.MethodPost, "/ping", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String())
		if !strings.HasSuffix(w.Body.String(), "\n") {
			fmt.Println()
		}
	}
	// Output:
	// 200 {"pong":"a1"}
	// 400 malformed PingReview: unexpected end of JSON input
	// 413 PingReview larger than 64 bytes
}
