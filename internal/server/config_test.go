package server

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func resolve(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("gateway", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Resolve(fs, func(k string) string { return env[k] })
}

func TestResolveDefaults(t *testing.T) {
	c, err := resolve(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{KatalogPath: "/etc/orkestra/katalog.yaml", WebhookPort: 8443, NotifyPort: 8444, ProbePort: 8080,
		SyncInterval: time.Minute, TrustGrace: 15 * time.Second, DrainTimeout: 20 * time.Second, LogLevel: "info", LogFormat: "json"}
	if c != want {
		t.Fatalf("defaults\n got %+v\nwant %+v", c, want)
	}
}

// Every flag has an environment variable; the flag wins when both are set.
func TestResolveEnvAndFlags(t *testing.T) {
	env := map[string]string{
		"KATALOG_PATH": "/env/k.yaml", "WEBHOOK_PORT": "9443", "NOTIFY_PORT": "9444", "PROBE_PORT": "9080",
		"SYNC_INTERVAL": "2m", "TRUST_GRACE": "1s", "DRAIN_TIMEOUT": "1d", "LOG_LEVEL": "debug", "LOG_FORMAT": "text",
	}
	c, err := resolve(t, []string{"--webhook-port", "7443", "-f", "/flag/k.yaml"}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{KatalogPath: "/flag/k.yaml", WebhookPort: 7443, NotifyPort: 9444, ProbePort: 9080,
		SyncInterval: 2 * time.Minute, TrustGrace: time.Second, DrainTimeout: 24 * time.Hour, LogLevel: "debug", LogFormat: "text"}
	if c != want {
		t.Fatalf("\n got %+v\nwant %+v", c, want)
	}
}

// An invalid value is an error naming the flag, never a silent default; all
// problems are reported at once.
func TestResolveInvalid(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--webhook-port", "0"}, nil, []string{`--webhook-port: "0" is not a port`}},
		{[]string{"--probe-port", "http"}, nil, []string{`--probe-port: "http" is not a port`}},
		{nil, map[string]string{"NOTIFY_PORT": "70000"}, []string{`--notify-port: "70000" is not a port`}},
		{[]string{"--notify-port", "8443"}, nil, []string{"ports must differ"}},
		{[]string{"--sync-interval", "soon"}, nil, []string{"--sync-interval:"}},
		{[]string{"--sync-interval", "10ms"}, nil, []string{"--sync-interval: 10ms is below the minimum 100ms"}},
		{[]string{"--drain-timeout", "-5s"}, nil, []string{"--drain-timeout:"}},
		{[]string{"--log-level", "verbose"}, nil, []string{`--log-level: "verbose" is not one of debug, info, warn, error`}},
		{nil, map[string]string{"LOG_FORMAT": "xml"}, []string{`--log-format: "xml" is not one of json, text`}},
		{[]string{"-f", " "}, nil, []string{"--katalog: must not be empty"}},
		{[]string{"--log-level", "loud", "--trust-grace", "x"}, nil, []string{"--log-level", "--trust-grace"}},
	} {
		_, err := resolve(t, tc.args, tc.env)
		if err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: error %q lacks %q", tc.args, tc.env, err, w)
			}
		}
	}
}
