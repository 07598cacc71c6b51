package testenv

import (
	"strings"
	"testing"
	"time"
)

// StartPod without a test: Log receives the output as it is written, Stop
// delivers SIGTERM and returns the program's own exit code, Done closes.
func TestStartPodStop(t *testing.T) {
	var log Buffer
	p, err := env.StartPod(PodOptions{
		Path: "/bin/sh",
		Args: []string{"-c", `trap 'echo TERMINATED; exit 3' TERM; test -s /run/secrets/kubernetes.io/serviceaccount/token && echo READY; while :; do sleep 0.05; done`},
		Log:  &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if err := p.WaitForLog("READY", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "READY") {
		t.Errorf("Log has %q, want the program's output", log.String())
	}
	code, err := p.Stop(10 * time.Second)
	if err != nil || code != 3 {
		t.Fatalf("Stop: exit code %d, %v; want 3 from the TERM trap\n%s", code, err, p.Logs())
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done is not closed after Stop")
	}
	if !strings.Contains(log.String(), "TERMINATED") {
		t.Errorf("Log has %q, want the trap's output", log.String())
	}
}

// A program that ignores SIGTERM is killed when the grace period ends.
func TestStartPodStopKillsAfterGrace(t *testing.T) {
	p, err := env.StartPod(PodOptions{
		Path: "/bin/sh",
		Args: []string{"-c", `trap '' TERM; echo READY; while :; do sleep 1; done`},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if err := p.WaitForLog("READY", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, err := p.Stop(300 * time.Millisecond)
	if err != nil || code != -1 {
		t.Fatalf("Stop: exit code %d, %v; want -1 (killed)", code, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("Stop took %s, want the 300ms grace and then a prompt kill", d)
	}
}

// A sandbox that cannot be set up is an error, not a panic or a hang.
func TestStartPodBadFile(t *testing.T) {
	_, err := env.StartPod(PodOptions{Path: "/bin/true", Files: map[string][]byte{"/etc/passwd": []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "only paths under /run or /var/run") {
		t.Fatalf("err = %v", err)
	}
}
