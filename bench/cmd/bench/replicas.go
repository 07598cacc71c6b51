package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/testenv/service"
)

// replicas is section 9: the Service-mode suite (e2e/ha), run as it runs
// in make test, in its own network namespace with its own control plane;
// its report is read back from $ORK_HA_REPORT.
func (h *harness) replicas(ctx context.Context) (*service.Report, error) {
	out := filepath.Join(h.work, "ha-report.json")
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestServiceMode$", "-timeout", "10m", "./e2e/ha")
	cmd.Env = append(os.Environ(), service.ReportEnv+"="+out)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go test ./e2e/ha: %w\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("the Service-mode suite wrote no report: %w", err)
	}
	var r service.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	h.logf("replicas: Service-mode suite in %s", time.Since(start).Round(time.Second))
	return &r, nil
}
