package main

import (
	"context"
	"fmt"
	"time"

	"github.com/orkspace/orkestra-gateway/bench"
)

// startup is section 3: start to ready of the gateway binary in the pod
// sandbox, alternating runs without and with its TLS Secret.
func (h *harness) startup(ctx context.Context) (*bench.Startup, error) {
	g, err := h.newGateway()
	if err != nil {
		return nil, err
	}
	var ready, self [2][]float64 // [0] absent, [1] present
	for i := range 2 * h.o.startups {
		present := i%2 == 1
		if !present {
			if err := h.removeSecret(ctx); err != nil {
				return nil, err
			}
		}
		time.Sleep(200 * time.Millisecond) // let the API server settle after the previous run
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := h.start(g, ""); err != nil {
			return nil, err
		}
		start := time.Now() // the sandbox is set up: the binary is being exec'd
		err := g.waitReady(30*time.Second, 2*time.Millisecond)
		d := time.Since(start)
		if err != nil {
			g.stop()
			return nil, err
		}
		var s time.Duration
		if err := eventually(ctx, 2*time.Second, "ready log line", func() error {
			var err error
			s, err = g.selfReportedStartup()
			return err
		}); err != nil {
			g.stop()
			return nil, err
		}
		g.stop()
		k := 0
		if present {
			k = 1
		}
		ready[k] = append(ready[k], bench.Round(float64(d)/float64(time.Millisecond), 2))
		self[k] = append(self[k], bench.Round(float64(s)/float64(time.Millisecond), 2))
		h.logf("start to ready, Secret %s: %.1f ms (self-reported %.1f ms)", map[bool]string{true: "present", false: "absent"}[present],
			float64(d)/float64(time.Millisecond), float64(s)/float64(time.Millisecond))
	}
	if len(ready[1]) == 0 {
		return nil, fmt.Errorf("no run")
	}
	return &bench.Startup{
		SecretAbsent:  bench.StartupRuns{ReadyMs: bench.SpreadOf(ready[0]), SelfReportedMs: bench.SpreadOf(self[0])},
		SecretPresent: bench.StartupRuns{ReadyMs: bench.SpreadOf(ready[1]), SelfReportedMs: bench.SpreadOf(self[1])},
	}, nil
}
