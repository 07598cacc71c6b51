package bench

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// WriteKatalog writes the benchmark Katalog, registering the gateway at
// url, and its CRD files into dir; it returns the Katalog's path.
func WriteKatalog(dir, url string) (string, error) {
	return writeFiles(dir, map[string]string{
		"katalog.yaml":      Katalog(url),
		"crds/website.yaml": WebsiteCRD(GroupGateway),
		"crds/gadget.yaml":  GadgetCRD,
	})
}

// WriteNativeKatalog writes NativeKatalog and its CRD file into dir.
func WriteNativeKatalog(dir, url string) (string, error) {
	return writeFiles(dir, map[string]string{
		"katalog.yaml":      NativeKatalog(url),
		"crds/website.yaml": WebsiteCRD(GroupNative),
	})
}

func writeFiles(dir string, files map[string]string) (string, error) {
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "katalog.yaml"), nil
}

// CompileKatalog runs the check pass over the Katalog at path, as the
// gateway does at start-up.
func CompileKatalog(path string) (*policy.Policy, error) {
	res, err := check.RunFile(path)
	if err != nil {
		return nil, err
	}
	if res.Policy == nil {
		var b bytes.Buffer
		for _, f := range res.Findings {
			fmt.Fprintln(&b, f.String())
		}
		return nil, fmt.Errorf("%s has errors:\n%s", path, b.String())
	}
	return res.Policy, nil
}

// GatewayHandler is webhook name as the gateway mounts it: Serve with its
// JSON logger (writing to log, so each denial line costs a write), its
// metrics registered on a Prometheus registry, and a webhook listener with
// a budget of body bytes in flight.
func GatewayHandler(name string, h admission.Handler, log *os.File) http.Handler {
	logger := slog.New(slog.NewJSONHandler(log, nil))
	m := admission.NewMetrics()
	metrics.NewRegistry().MustRegister(m)
	return admission.Serve(name, h, admission.ServeOptions{
		Logger:   logger,
		Metrics:  m,
		Listener: webhook.NewListener(webhook.ListenerOptions{Logger: logger, MaxBytesInFlight: 32 << 20}),
	})
}

// HandlerCost is what one request costs a handler in process: no TLS, no
// network, the same request bodies, the same recorder.
type HandlerCost struct {
	Path string `json:"path"`
	// CPU per request, GC included, in microseconds (median of runs).
	FloorCPUMicros   float64 `json:"floorCPUMicros"`
	GatewayCPUMicros float64 `json:"gatewayCPUMicros"`
	Ratio            float64 `json:"ratio"`
	FloorAllocs      int64   `json:"floorAllocsPerRequest"`
	GatewayAllocs    int64   `json:"gatewayAllocsPerRequest"`
	FloorBytes       int64   `json:"floorBytesPerRequest"`
	GatewayBytes     int64   `json:"gatewayBytesPerRequest"`
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type cost struct {
	cpuMicros     float64
	allocs, bytes int64
}

// measure runs h on bodies in turn for about a second.
func measure(h http.Handler, bodies [][]byte) (cost, error) {
	var failure error
	var perOp time.Duration // CPU per request of the last (the reported) round
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := processCPU()
		for i := 0; b.Loop(); i++ {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(bodies[i%len(bodies)]))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK && failure == nil {
				failure = fmt.Errorf("status %d: %.200s", w.Code, w.Body)
			}
		}
		perOp = (processCPU() - cpu0) / time.Duration(b.N)
	})
	if failure != nil {
		return cost{}, failure
	}
	return cost{
		cpuMicros: Round(float64(perOp)/float64(time.Microsecond), 2),
		allocs:    res.AllocsPerOp(),
		bytes:     res.AllocedBytesPerOp(),
	}, nil
}

// MeasureHandlers compares the gateway's /validate and
// /deletion-protection handlers with the floor's, in process, on the
// bodies of the webhook benchmark: the part of the difference that is the
// gateway's own code. runs alternate; the CPU figures are medians.
func MeasureHandlers(p *policy.Policy, runs int) ([]HandlerCost, error) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	vb, _ := ValidateBodies(10)
	floor := http.HandlerFunc(floorAdmit)
	var out []HandlerCost
	for _, c := range []struct {
		path   string
		gw     http.Handler
		bodies [][]byte
	}{
		{"/validate", GatewayHandler(admission.NameValidate, admission.NewValidation(p), devNull), vb},
		{"/deletion-protection", GatewayHandler(admission.NameDeletionProtection, admission.NewDeletionProtection(p), devNull), [][]byte{DeleteReview()}},
	} {
		var fl, gw []float64
		var flLast, gwLast cost
		for range runs {
			f, err := measure(floor, c.bodies)
			if err != nil {
				return nil, fmt.Errorf("floor %s: %w", c.path, err)
			}
			g, err := measure(c.gw, c.bodies)
			if err != nil {
				return nil, fmt.Errorf("gateway %s: %w", c.path, err)
			}
			fl, gw = append(fl, f.cpuMicros), append(gw, g.cpuMicros)
			flLast, gwLast = f, g
		}
		hc := HandlerCost{
			Path:           c.path,
			FloorCPUMicros: SpreadOf(fl).Median, GatewayCPUMicros: SpreadOf(gw).Median,
			FloorAllocs: flLast.allocs, GatewayAllocs: gwLast.allocs,
			FloorBytes: flLast.bytes, GatewayBytes: gwLast.bytes,
		}
		hc.Ratio = Ratio(hc.GatewayCPUMicros, hc.FloorCPUMicros)
		out = append(out, hc)
	}
	return out, nil
}
