package server

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Config is the process configuration of spec section 9. Every flag can also
// be set by an environment variable; the flag wins.
type Config struct {
	KatalogPath  string
	WebhookPort  int
	NotifyPort   int
	ProbePort    int
	SyncInterval time.Duration
	TrustGrace   time.Duration
	DrainTimeout time.Duration
	LogLevel     string
	LogFormat    string
}

// flagEnv maps each flag to its environment variable.
var flagEnv = []struct{ flag, env string }{
	{"katalog", "KATALOG_PATH"},
	{"webhook-port", "WEBHOOK_PORT"},
	{"notify-port", "NOTIFY_PORT"},
	{"probe-port", "PROBE_PORT"},
	{"sync-interval", "SYNC_INTERVAL"},
	{"trust-grace", "TRUST_GRACE"},
	{"drain-timeout", "DRAIN_TIMEOUT"},
	{"log-level", "LOG_LEVEL"},
	{"log-format", "LOG_FORMAT"},
}

// AddFlags registers the flags. Values are kept as strings and parsed by
// Resolve so that a bad environment variable is reported like a bad flag.
func AddFlags(fs *pflag.FlagSet) {
	fs.StringP("katalog", "f", "/etc/orkestra/katalog.yaml", "Katalog file (env KATALOG_PATH)")
	fs.String("webhook-port", "8443", "TLS port of the admission and conversion webhooks (env WEBHOOK_PORT)")
	fs.String("notify-port", "8444", "TLS port of /notify (env NOTIFY_PORT)")
	fs.String("probe-port", "8080", "plain HTTP port of /livez, /readyz and /metrics (env PROBE_PORT)")
	fs.String("sync-interval", "1m", "maintenance tick: re-apply registrations, check certificates (env SYNC_INTERVAL)")
	fs.String("trust-grace", "15s", "how long a rotated CA must have been trusted before its certificate is served (env TRUST_GRACE)")
	fs.String("drain-timeout", "20s", "how long shutdown waits for in-flight requests and queued notifications (env DRAIN_TIMEOUT)")
	fs.String("log-level", "info", "debug|info|warn|error (env LOG_LEVEL)")
	fs.String("log-format", "json", "json|text (env LOG_FORMAT)")
}

// Resolve reads the flags, falling back to the environment for flags not
// given, and validates every value: an invalid value is an error, never a
// silent default.
func Resolve(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	val := map[string]string{}
	for _, fe := range flagEnv {
		f := fs.Lookup(fe.flag)
		v := f.Value.String()
		if !f.Changed {
			if e, ok := lookup(getenv, fe.env); ok {
				v = e
			}
		}
		val[fe.flag] = v
	}
	var c Config
	var errs []string
	bad := func(flag, msg string) {
		errs = append(errs, fmt.Sprintf("--%s: %s", flag, msg))
	}
	c.KatalogPath = val["katalog"]
	if strings.TrimSpace(c.KatalogPath) == "" {
		bad("katalog", "must not be empty")
	}
	port := func(name string) int {
		n, err := strconv.Atoi(val[name])
		if err != nil || n < 1 || n > 65535 {
			bad(name, fmt.Sprintf("%q is not a port (1-65535)", val[name]))
		}
		return n
	}
	c.WebhookPort, c.NotifyPort, c.ProbePort = port("webhook-port"), port("notify-port"), port("probe-port")
	if c.WebhookPort == c.NotifyPort || c.WebhookPort == c.ProbePort || c.NotifyPort == c.ProbePort {
		errs = append(errs, fmt.Sprintf("ports must differ: webhook %d, notify %d, probe %d", c.WebhookPort, c.NotifyPort, c.ProbePort))
	}
	dur := func(name string, min time.Duration) time.Duration {
		d, err := katalog.ParseDuration(val[name])
		if err != nil {
			bad(name, err.Error())
		} else if d < min {
			bad(name, fmt.Sprintf("%s is below the minimum %s", val[name], min))
		}
		return d
	}
	c.SyncInterval = dur("sync-interval", 100*time.Millisecond)
	c.TrustGrace = dur("trust-grace", 0)
	c.DrainTimeout = dur("drain-timeout", 0)
	c.LogLevel, c.LogFormat = val["log-level"], val["log-format"]
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("log-format", fmt.Sprintf("%q is not one of json, text", c.LogFormat))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func lookup(getenv func(string) string, key string) (string, bool) {
	if getenv == nil {
		v, ok := os.LookupEnv(key)
		return v, ok
	}
	v := getenv(key)
	return v, v != ""
}

// Logger builds the process logger from the configuration.
func (c Config) Logger(w *os.File) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
