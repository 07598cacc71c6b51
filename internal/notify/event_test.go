package notify

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const validEvent = `{
	"katalogName": "shop", "crName": "web-1", "crNamespace": "web",
	"gvk": "web.example.com/v1/Website", "condKey": "Ready=False",
	"teamName": "platform", "subject": "web-1 is not ready",
	"message": "replicas {{ .data.ready }}/{{ .data.want }}",
	"severity": "warning", "timestamp": "2026-01-02T03:04:05Z",
	"data": {"ready": 1, "want": 3, "ratio": 0.5}, "id": "ev-1"
}`

func TestDecodeEventValid(t *testing.T) {
	ev, err := decodeEvent([]byte(validEvent), t0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.KatalogName != "shop" || ev.CRName != "web-1" || ev.CRNamespace != "web" || ev.CondKey != "Ready=False" ||
		ev.Severity != "warning" || ev.ID != "ev-1" || ev.GVK != "web.example.com/v1/Website" {
		t.Errorf("fields: %+v", ev)
	}
	if len(ev.Teams) != 1 || ev.Teams[0] != "platform" {
		t.Errorf("teams = %v", ev.Teams)
	}
	if !ev.Timestamp.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("timestamp = %v", ev.Timestamp)
	}
	// Integral numbers stay integers so templates print 3, not 3.0.
	if ev.Data["want"] != int64(3) || ev.Data["ratio"] != 0.5 {
		t.Errorf("data = %#v", ev.Data)
	}
}

func TestDecodeEventDefaultsAndForms(t *testing.T) {
	body := `{"katalogName":"k","crName":"c","gvk":{"group":"","version":"v1","kind":"ConfigMap"},
		"condKey":"x","teams":["a","b"],"subject":"s","severity":"info","unknownField":1}`
	ev, err := decodeEvent([]byte(body), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Timestamp.Equal(t0) {
		t.Errorf("a missing timestamp is the receive time; got %v", ev.Timestamp)
	}
	if ev.GVK != "v1/ConfigMap" {
		t.Errorf("gvk object = %q", ev.GVK)
	}
	if strings.Join(ev.Teams, ",") != "a,b" {
		t.Errorf("teams = %v", ev.Teams)
	}
	if ev.CRNamespace != "" {
		t.Errorf("cluster-scoped object has namespace %q", ev.CRNamespace)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		msg    string   // in DecodeError.Msg
		fields []string // every field named, in any order
	}{
		{"empty", ``, "not a JSON object", nil},
		{"syntax", `{"crName": }`, "at byte", nil},
		{"array", `[1]`, "not a JSON object", nil},
		{"null", `null`, "not a JSON object", nil},
		{"trailing", `{} {}`, "data after", nil},
		{"all missing", `{}`, "invalid field",
			[]string{"katalogName", "crName", "gvk", "condKey", "subject", "severity", "teamName"}},
		{"wrong types", `{"katalogName":1,"crName":true,"crNamespace":[],"gvk":2,"condKey":{},"teamName":3,
			"subject":null,"severity":"loud","data":"x","timestamp":"yesterday","id":5}`, "invalid field",
			[]string{"katalogName", "crName", "crNamespace", "gvk", "condKey", "teamName", "subject", "severity", "data", "timestamp", "id"}},
		{"both team forms", `{"katalogName":"k","crName":"c","gvk":"g","condKey":"x","teamName":"a","teams":["a"],"subject":"s","severity":"info"}`,
			"invalid field", []string{"teams"}},
		{"bad teams", `{"katalogName":"k","crName":"c","gvk":"g","condKey":"x","teams":["a","a",""," b"],"subject":"s","severity":"info"}`,
			"invalid field", []string{"teams[1]", "teams[2]", "teams[3]"}},
		{"empty teams", `{"katalogName":"k","crName":"c","gvk":"g","condKey":"x","teams":[],"subject":"s","severity":"info"}`,
			"invalid field", []string{"teams"}},
		{"blank and control", `{"katalogName":" ","crName":"a\nb","gvk":{"kind":"X"},"condKey":"x","teamName":"t","subject":"s","severity":"info"}`,
			"invalid field", []string{"katalogName", "crName", "gvk"}},
		{"too long", `{"katalogName":"k","crName":"` + strings.Repeat("c", 300) + `","gvk":"g","condKey":"x","teamName":"t","subject":"` +
			strings.Repeat("s", 3000) + `","severity":"info"}`, "invalid field", []string{"crName", "subject"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeEvent([]byte(tt.body), t0)
			var de *decodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DecodeError", err)
			}
			if !strings.Contains(de.Msg, tt.msg) {
				t.Errorf("msg = %q, want it to contain %q", de.Msg, tt.msg)
			}
			got := map[string]bool{}
			for _, f := range de.Fields {
				got[f.Field] = true
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			for _, f := range tt.fields {
				if !got[f] {
					t.Errorf("field %q not reported; got %v", f, de.Fields)
				}
			}
			if len(de.Fields) != len(tt.fields) {
				t.Errorf("got %d field errors, want %d: %v", len(de.Fields), len(tt.fields), de.Fields)
			}
		})
	}
}

// FuzzDecodeEvent: any body gives an event or a *decodeError, never a
// panic, and an accepted event satisfies what the relay relies on.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(validEvent))
	f.Add([]byte(`{"teams":["a","a"],"gvk":{"version":"v1","kind":"K"}}`))
	f.Add([]byte(`{"data":{"a":[1,2.5,{"b":null}]},"timestamp":"2026-01-02T03:04:05.123+02:00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := decodeEvent(body, t0)
		if err != nil {
			var de *decodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			return
		}
		if len(ev.Teams) == 0 || ev.CRName == "" || ev.KatalogName == "" || ev.CondKey == "" || ev.Subject == "" || ev.GVK == "" {
			t.Fatalf("accepted an event missing required fields: %+v", ev)
		}
		if !contains(severities, ev.Severity) {
			t.Fatalf("accepted severity %q", ev.Severity)
		}
		for _, s := range append([]string{ev.KatalogName, ev.CRName, ev.CRNamespace, ev.CondKey, ev.ID}, ev.Teams...) {
			if strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Fatalf("accepted control characters in %q", s)
			}
		}
		if ev.Timestamp.IsZero() {
			t.Fatal("zero timestamp")
		}
	})
}
