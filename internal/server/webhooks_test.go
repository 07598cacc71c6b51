package server

import (
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/conversion"
)

const katalogHead = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: routes
gateway:
  standalone: true
  namespace: gw
  url: https://127.0.0.1:8443
`

const convertingEntry = `spec:
  crds:
    thing:
      apiTypes: {group: ex.com, version: v2, kind: Thing, plural: things}
      conversion:
        storageVersion: v2
        versions: [v1, v2]
`

// gatewayFor is a Gateway with the policy of a Katalog text.
func gatewayFor(t *testing.T, text string) *Gateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "katalog.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := check.RunFile(path)
	if err != nil || res.Policy == nil {
		t.Fatalf("katalog: %v %v", err, res.Findings)
	}
	return &Gateway{log: slog.New(slog.DiscardHandler), policy: res.Policy, metrics: newMetrics(buildinfo.Read("", "")), tls: &tlsState{}}
}

// /convert is mounted only when conversion is enabled and an entry declares
// it; the admission paths always are (a stale registration of a disabled
// feature meets a handler that allows, not a 404).
func TestConvertMountedOnlyWhenAnEntryConverts(t *testing.T) {
	for _, c := range []struct {
		name, text string
		convert    bool
	}{
		{"no conversion", katalogHead + "security:\n  deletionProtection: {enabled: true}\n", false},
		{"conversion disabled", katalogHead + "security:\n  conversion: {enabled: false}\n" + convertingEntry, false},
		{"conversion", katalogHead + "security:\n  conversion: {enabled: true}\n" + convertingEntry, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := gatewayFor(t, c.text).webhookHandler()
			if err != nil {
				t.Fatal(err)
			}
			post := func(path string) int {
				r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}"))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code
			}
			want := http.StatusNotFound
			if c.convert {
				want = http.StatusBadRequest // mounted: the envelope read and refused "{}"
			}
			if got := post("/convert"); got != want {
				t.Errorf("/convert: %d, want %d", got, want)
			}
			for _, p := range []string{"/deletion-protection", "/strict-mode", "/namespace-protection", "/validate", "/mutate"} {
				if got := post(p); got != http.StatusBadRequest {
					t.Errorf("%s: %d, want 400 (mounted)", p, got)
				}
			}
		})
	}
}

func TestBodyBudget(t *testing.T) {
	for _, c := range []struct{ limit, want int64 }{
		{math.MaxInt64, defaultBodyBudget},
		{0, defaultBodyBudget},
		{115 << 20, 115 << 20 / 4},
		{32 << 20, conversion.DefaultMaxBodyBytes}, // never below one review at the limit
		{8 << 30, maxBodyBudget},
	} {
		if got := bodyBudget(c.limit); got != c.want {
			t.Errorf("bodyBudget(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}
