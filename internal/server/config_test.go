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
		return Config{}, err
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

// --katalog is the old name of --file; the profiling listener is loopback
// unless remote access is allowed explicitly.
func TestResolveAliasAndPprof(t *testing.T) {
	c, err := resolve(t, []string{"--katalog", "/old/k.yaml", "--pprof-address", "127.0.0.1:6060"}, nil)
	if err != nil || c.KatalogPath != "/old/k.yaml" || c.PprofAddress != "127.0.0.1:6060" || c.PprofAllowRemote {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, addr := range []string{"localhost:6060", "[::1]:6060", "127.0.0.2:1"} {
		if _, err := resolve(t, []string{"--pprof-address", addr}, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	c, err = resolve(t, []string{"--pprof-allow-remote"}, map[string]string{"PPROF_ADDRESS": "0.0.0.0:6060"})
	if err != nil || c.PprofAddress != "0.0.0.0:6060" || !c.PprofAllowRemote {
		t.Fatalf("remote allowed: %+v, %v", c, err)
	}
	c, err = resolve(t, nil, map[string]string{"PPROF_ADDRESS": ":6060", "PPROF_ALLOW_REMOTE": "true"})
	if err != nil || !c.PprofAllowRemote {
		t.Fatalf("remote allowed by env: %+v, %v", c, err)
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
		{[]string{"--webhook-port", "0"}, nil, []string{`"--webhook-port" flag: "0" is not a port`}},
		{[]string{"--probe-port", "http"}, nil, []string{`"--probe-port" flag: "http" is not a port`}},
		{nil, map[string]string{"WEBHOOK_PORT": "0"}, []string{`--webhook-port: "0" is not a port`}},
		{nil, map[string]string{"NOTIFY_PORT": "70000"}, []string{`--notify-port: "70000" is not a port`}},
		{[]string{"--notify-port", "8443"}, nil, []string{"ports must differ"}},
		{[]string{"--sync-interval", "soon"}, nil, []string{`invalid argument "soon" for "--sync-interval" flag`}},
		{nil, map[string]string{"SYNC_INTERVAL": "soon"}, []string{"--sync-interval:"}},
		{[]string{"--sync-interval", "10ms"}, nil, []string{"--sync-interval: 10ms is below the minimum 100ms"}},
		{[]string{"--drain-timeout", "-5s"}, nil, []string{`"--drain-timeout" flag: duration "-5s" is negative`}},
		{nil, map[string]string{"DRAIN_TIMEOUT": "-5s"}, []string{"--drain-timeout:"}},
		{[]string{"--log-level", "verbose"}, nil, []string{`--log-level: "verbose" is not one of debug, info, warn, error`}},
		{nil, map[string]string{"LOG_FORMAT": "xml"}, []string{`--log-format: "xml" is not one of json, text`}},
		{[]string{"-f", " "}, nil, []string{"--file: must not be empty"}},
		{[]string{"--log-level", "loud"}, map[string]string{"TRUST_GRACE": "x"}, []string{"--log-level", "--trust-grace"}},
		{[]string{"--pprof-address", "0.0.0.0:6060"}, nil, []string{`--pprof-address: "0.0.0.0:6060" has host "0.0.0.0", which is not a loopback address`, "--pprof-allow-remote"}},
		{nil, map[string]string{"PPROF_ADDRESS": ":6060"}, []string{"an empty host (every interface), which is not a loopback address"}},
		{[]string{"--pprof-address", "127.0.0.1"}, nil, []string{`--pprof-address: "127.0.0.1" is not host:port`}},
		{[]string{"--pprof-address", "[::1]:0"}, nil, []string{`--pprof-address: "0" is not a port`}},
		{nil, map[string]string{"PPROF_ALLOW_REMOTE": "maybe"}, []string{`--pprof-allow-remote: "maybe" is not true or false`}},
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
