package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

const envKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: e2e-env
gateway:
  standalone: true
  namespace: orkestra-system
  url: "{{URL}}"
security:
  deletionProtection:
    enabled: true
  webhooks:
    failurePolicy: Ignore
`

// The gateway build's command line in a pod: every setting can come from
// its environment variable, a flag given beats the variable, and an
// invalid variable is a usage error (exit 2) naming the flag.
func TestGatewayConfigFromEnvironment(t *testing.T) {
	if err := env.BindClusterAdmin(context.Background(), gatewayNamespace, "gateway"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeExampleRegistrations(t, "e2e-env") })
	g := &gateway{webhookPort: freePort(t), probePort: freePort(t), notifyPort: freePort(t)}
	envProbe := freePort(t)
	g.katalog = filepath.Join(t.TempDir(), "katalog.yaml")
	writeFile(t, g.katalog, strings.ReplaceAll(envKatalog, "{{URL}}", fmt.Sprintf("https://127.0.0.1:%d", g.webhookPort)))
	settings := []string{
		"KATALOG_PATH=" + g.katalog,
		"WEBHOOK_PORT=" + strconv.Itoa(g.webhookPort),
		"NOTIFY_PORT=" + strconv.Itoa(g.notifyPort),
		"PROBE_PORT=" + strconv.Itoa(envProbe),
		"SYNC_INTERVAL=1s",
		"LOG_FORMAT=text",
	}
	start := func(args []string, extraEnv ...string) *testenv.Process {
		return env.StartInPod(t, testenv.PodOptions{
			Path:           testenv.BuildGateway(t),
			Args:           append([]string{"gateway"}, args...),
			Namespace:      gatewayNamespace,
			ServiceAccount: "gateway",
			Env:            append(append([]string(nil), settings...), extraEnv...),
		})
	}

	// The flag's probe port wins over PROBE_PORT; the rest comes from the
	// environment (the Katalog, the ports, the text log format).
	g.proc = start([]string{"--probe-port", strconv.Itoa(g.probePort)})
	if err := g.waitReady(30 * time.Second); err != nil {
		t.Fatalf("gateway configured by its environment not ready: %v\n%s", err, g.proc.Logs())
	}
	if code, _ := (&gateway{probePort: envProbe}).probe("/livez"); code != 0 {
		t.Errorf("PROBE_PORT %d answers %d although --probe-port was given", envProbe, code)
	}
	if err := g.proc.WaitForLog("level=INFO msg=ready", 10*time.Second); err != nil {
		t.Errorf("LOG_FORMAT=text not applied: %v\n%s", err, g.proc.Logs())
	}
	if err := g.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := g.proc.Wait(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit %d, %v\n%s", code, err, g.proc.Logs())
	}

	// An invalid variable: exit 2, the flag named, the usage hint.
	p := start(nil, "LOG_LEVEL=loud")
	code, err := p.Wait(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := "Error: invalid configuration: --log-level: \"loud\" is not one of debug, info, warn, error\nRun 'ork gateway --help' for usage.\n"
	if code != exitUsageCode || !strings.Contains(p.Logs(), want) {
		t.Errorf("LOG_LEVEL=loud: exit %d, output:\n%s\nwant exit 2 and:\n%s", code, p.Logs(), want)
	}
}

// exitUsageCode is the gateway's exit code for a usage error.
const exitUsageCode = 2
