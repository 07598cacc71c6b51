package server

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Config is the process configuration: the flags of ork gateway. Every flag can also
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
	// PprofAddress serves net/http/pprof on its own listener when set;
	// a loopback address unless PprofAllowRemote.
	PprofAddress     string
	PprofAllowRemote bool
	// Build is the build that runs, exported as orkestra_gateway_build_info
	// (zero: read from the binary, without the linker's version and commit).
	Build buildinfo.Info
}

// flagEnv maps each flag to its environment variable.
var flagEnv = []struct{ flag, env string }{
	{"file", "KATALOG_PATH"},
	{"webhook-port", "WEBHOOK_PORT"},
	{"notify-port", "NOTIFY_PORT"},
	{"probe-port", "PROBE_PORT"},
	{"sync-interval", "SYNC_INTERVAL"},
	{"trust-grace", "TRUST_GRACE"},
	{"drain-timeout", "DRAIN_TIMEOUT"},
	{"log-level", "LOG_LEVEL"},
	{"log-format", "LOG_FORMAT"},
	{"pprof-address", "PPROF_ADDRESS"},
	{"pprof-allow-remote", "PPROF_ALLOW_REMOTE"},
}

// AddFlags registers the flags. Values are kept as strings and parsed by
// Resolve so that a bad environment variable is reported like a bad flag;
// durations and ports are also checked as the flag is parsed (and shown as
// such in the help).
func AddFlags(fs *pflag.FlagSet) {
	fs.SetNormalizeFunc(KatalogAlias)
	fs.StringP("file", "f", "/etc/orkestra/katalog.yaml", "Katalog file (env KATALOG_PATH; --katalog is an alias)")
	fs.Var(newTyped("8443", "port", parsePort), "webhook-port", "TLS port of the admission and conversion webhooks (env WEBHOOK_PORT)")
	fs.Var(newTyped("8444", "port", parsePort), "notify-port", "TLS port of /notify (env NOTIFY_PORT)")
	fs.Var(newTyped("8080", "port", parsePort), "probe-port", "plain HTTP port of /livez, /readyz and /metrics (env PROBE_PORT)")
	fs.Var(newTyped("1m", "duration", parseDuration), "sync-interval", "maintenance tick: re-apply registrations, check certificates (env SYNC_INTERVAL)")
	fs.Var(newTyped("15s", "duration", parseDuration), "trust-grace", "how long a rotated CA must have been trusted before its certificate is served (env TRUST_GRACE)")
	fs.Var(newTyped("20s", "duration", parseDuration), "drain-timeout", "how long shutdown waits for in-flight requests and queued notifications (env DRAIN_TIMEOUT)")
	fs.String("log-level", "info", "debug|info|warn|error (env LOG_LEVEL)")
	fs.String("log-format", "json", "json|text (env LOG_FORMAT)")
	fs.String("pprof-address", "", "serve net/http/pprof on this host:port, e.g. 127.0.0.1:6060; loopback only unless --pprof-allow-remote (env PPROF_ADDRESS; default off)")
	fs.Var(newTyped("false", "", parseBool), "pprof-allow-remote", "allow a --pprof-address that is not loopback (profiles reveal memory contents; env PPROF_ALLOW_REMOTE)")
	fs.Lookup("pprof-allow-remote").NoOptDefVal = "true"
}

// KatalogAlias makes --katalog another name of --file: every command names
// the Katalog with -f/--file, and earlier releases spelled the gateway's
// --katalog.
func KatalogAlias(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "katalog" {
		return "file"
	}
	return pflag.NormalizedName(name)
}

// typed is a flag value kept as the text given, checked when it is parsed,
// with a type name for the help ("duration", "port").
type typed struct {
	val, typ string
	parse    func(string) error
}

func newTyped(def, typ string, parse func(string) error) *typed {
	return &typed{val: def, typ: typ, parse: parse}
}

func (v *typed) String() string { return v.val }
func (v *typed) Type() string   { return v.typ }
func (v *typed) Set(s string) error {
	if err := v.parse(s); err != nil {
		return err
	}
	v.val = s
	return nil
}

func parseDuration(s string) error { _, err := katalog.ParseDuration(s); return err }

func parsePort(s string) error {
	if n, err := strconv.Atoi(s); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return nil
}

func parseBool(s string) error {
	if _, err := strconv.ParseBool(s); err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	return nil
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
	c.KatalogPath = val["file"]
	if strings.TrimSpace(c.KatalogPath) == "" {
		bad("file", "must not be empty")
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
	c.PprofAddress = val["pprof-address"]
	if b, err := strconv.ParseBool(val["pprof-allow-remote"]); err != nil {
		bad("pprof-allow-remote", fmt.Sprintf("%q is not true or false", val["pprof-allow-remote"]))
	} else {
		c.PprofAllowRemote = b
	}
	if c.PprofAddress != "" {
		if err := checkPprofAddress(c.PprofAddress, c.PprofAllowRemote); err != nil {
			bad("pprof-address", err.Error())
		}
	}
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

// checkPprofAddress requires host:port with a loopback host (127.0.0.0/8,
// ::1 or localhost) unless remote access is allowed: a profile endpoint
// reveals memory contents and costs CPU, so it is reached through
// kubectl port-forward, not the pod network, unless the operator says so.
func checkPprofAddress(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", addr, err)
	}
	if err := parsePort(port); err != nil {
		return err
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	what := "host " + strconv.Quote(host)
	if host == "" {
		what = "an empty host (every interface)"
	}
	return fmt.Errorf("%q has %s, which is not a loopback address; profiles reveal memory contents: use 127.0.0.1:PORT with kubectl port-forward, or add --pprof-allow-remote (PPROF_ALLOW_REMOTE=true) to serve it on the pod network", addr, what)
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
