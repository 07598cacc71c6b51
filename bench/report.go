package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/testenv/service"
)

// SchemaVersion is the version of the results.json layout.
const SchemaVersion = 1

// NotMeasured marks a section the harness could not run, with Reason.
const NotMeasured = "not yet measured"

// Results is everything one `make bench` run measured; it is written as
// bench/results.json and rendered as docs/benchmarks.md.
type Results struct {
	Schema   int       `json:"schema"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`

	Handlers   []HandlerCost `json:"handlers,omitempty"`
	Webhooks   []Endpoint    `json:"webhooks"`
	EndToEnd   *EndToEnd     `json:"endToEnd,omitempty"`
	Startup    *Startup      `json:"startup,omitempty"`
	Memory     *MemoryUse    `json:"memory,omitempty"`
	Conversion *Conversion   `json:"conversion,omitempty"`
	Notify     *Notify       `json:"notify,omitempty"`
	Flood      *Flood        `json:"flood,omitempty"`
	Engines    *Engines      `json:"engines,omitempty"`
	// Replicas is the report of the Service-mode suite (e2e/ha).
	Replicas *service.Report `json:"replicas,omitempty"`
	Goals    []Goal          `json:"goals"`
	Notes    []string        `json:"notes,omitempty"`
	// KeptFrom is when the run started that measured the sections a
	// partial run (-only) kept; empty when every section is this run's.
	KeptFrom string `json:"keptFrom,omitempty"`
}

// Settings are the knobs of the run, so a reader can tell two runs apart.
type Settings struct {
	Connections   int     `json:"connections"`
	MaxSeconds    float64 `json:"maxPhaseSeconds"`
	MaxRuns       int     `json:"maxRuns"`
	RateSeconds   float64 `json:"ratePhaseSeconds"`
	RateRuns      int     `json:"rateRuns"`
	Creates       int     `json:"createsPerVariant"`
	StartupRuns   int     `json:"startupRunsEach"`
	ConversionRun int     `json:"conversionRuns"`
	NotifySeconds float64 `json:"notifySeconds"`
	HandlerRuns   int     `json:"handlerRuns"`
	FloodSeconds  float64 `json:"floodPhaseSeconds,omitempty"`
	FloodRuns     int     `json:"floodRuns,omitempty"`
}

// Endpoint is the webhook benchmark of one path: the gateway against the
// floor, closed-loop (maximum throughput) and open-loop at fixed rates.
type Endpoint struct {
	Path     string `json:"path"`
	Requests string `json:"requests"`
	// MaxFloor and MaxGateway are requests/s over repeated closed-loop runs.
	MaxFloor   Spread `json:"maxFloor"`
	MaxGateway Spread `json:"maxGateway"`
	// MaxRatio is median(MaxGateway) / median(MaxFloor).
	MaxRatio float64     `json:"maxRatio"`
	Rates    []RatePoint `json:"rates"`
}

// RatePoint is one fixed offered rate, sent to both servers in turn.
type RatePoint struct {
	Label   string   `json:"label"`
	Rate    float64  `json:"rate"`
	Floor   RateRuns `json:"floor"`
	Gateway RateRuns `json:"gateway"`
	// P50Ratio and P99Ratio are the gateway's median percentile over the
	// floor's.
	P50Ratio float64 `json:"p50Ratio"`
	P99Ratio float64 `json:"p99Ratio"`
}

// RateRuns are repeated runs of one server at one rate. Median holds the
// median over the runs of each percentile: one slow run (a neighbour
// stealing the CPU) does not make the figure.
type RateRuns struct {
	Runs       []Run   `json:"runs"`
	Median     Latency `json:"median"`
	Throughput float64 `json:"throughput"` // median
	Failed     int64   `json:"failed"`     // errors and missed requests, all runs
}

// MedianOf summarises runs.
func MedianOf(runs []Run) RateRuns {
	rr := RateRuns{Runs: runs}
	col := func(f func(Run) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return SpreadOf(xs).Median
	}
	rr.Median = Latency{
		N:    int(col(func(r Run) float64 { return float64(r.Latency.N) })),
		P50:  col(func(r Run) float64 { return r.Latency.P50 }),
		P95:  col(func(r Run) float64 { return r.Latency.P95 }),
		P99:  col(func(r Run) float64 { return r.Latency.P99 }),
		P999: col(func(r Run) float64 { return r.Latency.P999 }),
		Max:  col(func(r Run) float64 { return r.Latency.Max }),
		Mean: col(func(r Run) float64 { return r.Latency.Mean }),
	}
	rr.Throughput = col(func(r Run) float64 { return r.Throughput })
	for _, r := range runs {
		rr.Failed += r.Errors + r.Missed
	}
	return rr
}

// EndToEnd is creates of a custom resource through kube-apiserver.
type EndToEnd struct {
	Creates int `json:"createsPerVariant"`
	Rounds  int `json:"rounds"`
	// None: no admission; Gateway: the gateway's /validate; VAP: the same
	// rules as a ValidatingAdmissionPolicy; Floor: the floor server
	// registered as the gateway is, the least any webhook costs.
	None    Latency `json:"none"`
	Gateway Latency `json:"gateway"`
	VAP     Latency `json:"vap"`
	Floor   Latency `json:"floorWebhook"`
	// Ratios of percentiles: gateway over VAP, none and the floor webhook.
	GatewayVsVAP   PercentileRatios `json:"gatewayVsVAP"`
	GatewayVsNone  PercentileRatios `json:"gatewayVsNone"`
	GatewayVsFloor PercentileRatios `json:"gatewayVsFloorWebhook"`
	FloorVsVAP     PercentileRatios `json:"floorWebhookVsVAP"`
	// HandlerMeanMs is the mean time the gateway's /validate handler took
	// per request during the creates, from its own metrics (decode,
	// rules, encode; not TLS or the network).
	HandlerMeanMs float64 `json:"handlerMeanMs"`
	// Equivalence is how many of the rules both the gateway and the policy
	// enforce identically (each broken alone must be denied by both with
	// its message, and allowed with no admission).
	Equivalence string `json:"equivalence"`
}

// Engines compares each admission engine with its baseline, end to end:
// creates of a Website through kube-apiserver, the variants interleaved.
type Engines struct {
	Creates int `json:"createsPerVariant"`
	Rounds  int `json:"rounds"`
	// None: no admission. VAP: the hand-written ValidatingAdmissionPolicy
	// (assets/vap.yaml). Native: the same rules on engine native, the
	// policies the gateway compiles. Webhook: the gateway's /validate
	// (engine webhook). Floor: the floor server registered as the gateway.
	None    Latency `json:"none"`
	VAP     Latency `json:"vap"`
	Native  Latency `json:"native"`
	Webhook Latency `json:"webhook"`
	Floor   Latency `json:"floorWebhook"`
	// NativeVsVAP and WebhookVsFloor are the goals' ratios.
	NativeVsVAP    PercentileRatios `json:"nativeVsVAP"`
	WebhookVsFloor PercentileRatios `json:"webhookVsFloorWebhook"`
	NativeVsNone   PercentileRatios `json:"nativeVsNone"`
	// PolicyMicros is the API server's own time in its
	// ValidatingAdmissionPolicy plugin per create of each variant (its
	// admission plugin histogram): the policies' cost without the rest of
	// the request. NativeVsVAPPolicy compares what each policy adds to
	// the plugin's time with no policy matching.
	PolicyMicros      PolicyMicros `json:"policyMicros"`
	NativeVsVAPPolicy float64      `json:"nativeVsVAPPolicy"`
	// Equivalence is how many rules the native policies, the hand-written
	// policy and the gateway deny identically.
	Equivalence string `json:"equivalence"`
	// Policies are the native engine's policies for the entry.
	Policies []string `json:"policies"`
}

// PolicyMicros is the mean time of the API server's
// ValidatingAdmissionPolicy plugin per create, in microseconds: with no
// policy matching, the hand-written policy, the native engine's.
type PolicyMicros struct {
	None   float64 `json:"none"`
	VAP    float64 `json:"vap"`
	Native float64 `json:"native"`
}

// PercentileRatios compares two latency distributions.
type PercentileRatios struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Compare returns a's percentiles over b's.
func Compare(a, b Latency) PercentileRatios {
	return PercentileRatios{P50: Ratio(a.P50, b.P50), P95: Ratio(a.P95, b.P95), P99: Ratio(a.P99, b.P99)}
}

// Startup is start to ready of the gateway binary in the pod sandbox.
type Startup struct {
	SecretPresent StartupRuns `json:"secretPresent"`
	SecretAbsent  StartupRuns `json:"secretAbsent"`
}

// StartupRuns are repeated starts in one condition, in milliseconds:
// Ready from exec to the first 200 of /readyz, measured outside;
// SelfReported is the gateway's own "startup" log field (from main to
// ready, without process start-up).
type StartupRuns struct {
	ReadyMs        Spread `json:"readyMs"`
	SelfReportedMs Spread `json:"selfReportedMs"`
}

// MemoryUse is the gateway's resident set size, and the floor's for scale.
type MemoryUse struct {
	GatewayIdleMiB float64 `json:"gatewayIdleMiB"`
	GatewayLoad    Memory  `json:"gatewayUnderLoad"`
	FloorIdleMiB   float64 `json:"floorIdleMiB"`
	FloorLoad      Memory  `json:"floorUnderLoad"`
}

// Conversion is one large ConversionReview through /convert against the
// identity conversion of the floor.
type Conversion struct {
	Status     string  `json:"status"` // "measured" or NotMeasured
	Reason     string  `json:"reason,omitempty"`
	Objects    int     `json:"objects,omitempty"`
	BodyKiB    float64 `json:"bodyKiB,omitempty"`
	GatewayMs  Spread  `json:"gatewayMs"`
	IdentityMs Spread  `json:"identityMs"`
	Ratio      float64 `json:"ratio,omitempty"`
}

// Notify is the intake of /notify with delivery stubbed at the destination.
type Notify struct {
	Status      string  `json:"status"` // "measured" or NotMeasured
	Reason      string  `json:"reason,omitempty"`
	Seconds     float64 `json:"seconds,omitempty"`
	Connections int     `json:"connections,omitempty"`
	Accepted    int64   `json:"accepted"`
	Refused     int64   `json:"refused"` // 503 (queue full), and any other failure
	PerSecond   float64 `json:"acceptedPerSecond"`
	Delivered   int64   `json:"delivered"`
	Latency     Latency `json:"latency"`
	RSSEndMiB   float64 `json:"rssEndMiB"`
	RSSIdleMiB  float64 `json:"rssIdleMiB"`
	FirstError  string  `json:"firstError,omitempty"`
}

// Flood is /validate at a fixed rate alone and while /notify is flooded.
type Flood struct {
	Status      string  `json:"status"` // "measured" or NotMeasured
	Reason      string  `json:"reason,omitempty"`
	Rate        float64 `json:"validateRate"`
	Seconds     float64 `json:"seconds,omitempty"`
	Connections int     `json:"notifyConnections,omitempty"`
	// Alone and Flooded are the /validate runs without and with the flood.
	Alone   RateRuns `json:"alone"`
	Flooded RateRuns `json:"flooded"`
	// P50Ratio and P99Ratio are Flooded's median percentile over Alone's.
	P50Ratio float64 `json:"p50Ratio"`
	P99Ratio float64 `json:"p99Ratio"`
	// NotifyRate is the flood's answered requests/s (202 and 503) per run;
	// NotifyAccepted and NotifyRefused count them over all flooded runs.
	NotifyRate     Spread `json:"notifyRate"`
	NotifyAccepted int64  `json:"notifyAccepted"`
	NotifyRefused  int64  `json:"notifyRefused"`
	FirstError     string `json:"firstError,omitempty"`
}

// Goal is one performance target and whether this run met it.
type Goal struct {
	Name   string  `json:"name"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Met    bool    `json:"met"`
}

// WriteJSON writes r to path, indented, with a final newline.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResults reads a results.json written by WriteJSON.
func ReadResults(b []byte) (*Results, error) {
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("results: schema %d, this harness reads %d", r.Schema, SchemaVersion)
	}
	return &r, nil
}

// Markdown renders r as docs/benchmarks.md.
func (r *Results) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Benchmarks\n\n")
	p("<!-- Generated by `make bench` (bench/cmd/bench) on %s. Do not edit: rerun it. -->\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("Every figure below comes from one run of `make bench`, which anyone can repeat: it starts a real\n")
	p("kube-apiserver and etcd (internal/testenv), runs the gateway binary (`go build -tags gateway`) in the\n")
	p("pod sandbox, and drives it from a load generator in the harness process. Machines like this one are\n")
	p("small and noisy, so every figure is either a ratio against a baseline measured in the same run, or a\n")
	p("median over repeated runs. The raw figures are in [bench/results.json](../bench/results.json).\n\n")

	p("## Machine\n\n| | |\n|---|---|\n")
	m := r.Machine
	p("| CPU | %s |\n| cores (GOMAXPROCS) | %d (%d) |\n| memory | %.1f GiB |\n| kernel | %s |\n| OS/arch | %s |\n| Go | %s |\n",
		orDash(m.CPU), m.Cores, m.GOMAXPROCS, m.MemoryGiB, orDash(m.Kernel), m.OS, m.Go)
	if m.APIServer != "" {
		p("| kube-apiserver | %s |\n", m.APIServer)
	}
	if m.LoadStart != "" {
		p("| load average (1, 5, 15 min) | %s at the start, %s at the end |\n", m.LoadStart, orDash(m.LoadEnd))
	}
	p("| run | %s, %.0f s in all |\n\n", r.Started.UTC().Format(time.RFC3339), r.Seconds)

	if len(r.Goals) > 0 {
		p("## Goals\n\n| goal | target | this run | met |\n|---|---|---|---|\n")
		for _, g := range r.Goals {
			p("| %s | %s | %s | %s |\n", g.Name, g.Target, formatValue(g.Value, g.Unit), yesNo(g.Met))
		}
		p("\n")
	}

	p("## 1. Webhook floor ratio\n\n")
	p("The load generator sends AdmissionReviews over TLS (HTTP/1.1, keep-alive, %d connections, the client\n", r.Settings.Connections)
	p("trusting the gateway's CA) to the gateway and to a *floor* server in the same run. The floor runs as a\n")
	p("separate process with the gateway's TLS configuration, certificate and listener settings, and does the\n")
	p("least a webhook can: it decodes the AdmissionReview with encoding/json and allows. Maximum throughput is\n")
	p("closed-loop (median of %d runs of %.0f s each, the two servers alternating). Fixed rates are open-loop,\n", r.Settings.MaxRuns, r.Settings.MaxSeconds)
	p("with latency counted from when each request was due, so queueing shows; each percentile is the median\n")
	p("over %d runs of %.0f s per server, alternating.\n\n", r.Settings.RateRuns, r.Settings.RateSeconds)
	for _, e := range r.Webhooks {
		p("### %s\n\n%s\n\n", e.Path, e.Requests)
		p("| | floor | gateway | ratio |\n|---|---|---|---|\n")
		p("| max throughput (req/s, median) | %.0f | %.0f | **%.2fx** |\n", e.MaxFloor.Median, e.MaxGateway.Median, e.MaxRatio)
		p("| runs (req/s) | %s | %s | |\n\n", joinFloats(e.MaxFloor.Runs, 0), joinFloats(e.MaxGateway.Runs, 0))
		p("| offered rate | server | achieved (req/s) | p50 ms | p95 ms | p99 ms | p99.9 ms | errors | p99 ratio |\n")
		p("|---|---|---|---|---|---|---|---|---|\n")
		for _, rp := range e.Rates {
			for i, side := range []struct {
				name string
				rr   RateRuns
			}{{"floor", rp.Floor}, {"gateway", rp.Gateway}} {
				label, ratio := "", ""
				if i == 0 {
					label = fmt.Sprintf("%s (%.0f/s)", rp.Label, rp.Rate)
				} else {
					ratio = fmt.Sprintf("**%.2fx**", rp.P99Ratio)
				}
				l := side.rr.Median
				p("| %s | %s | %.0f | %.3f | %.3f | %.3f | %.3f | %d | %s |\n",
					label, side.name, side.rr.Throughput, l.P50, l.P95, l.P99, l.P999, side.rr.Failed, ratio)
			}
		}
		p("\n")
	}

	if e := r.EndToEnd; e != nil {
		p("## 2. End to end through kube-apiserver\n\n")
		p("%d creates of a Website custom resource per variant, one at a time, in %d interleaved rounds, through\n", e.Creates, e.Rounds)
		p("kube-apiserver: (a) a copy of the CRD with no admission, (b) a copy validated by the gateway's\n")
		p("/validate (ten rules), (c) a copy validated by the same rules as a ValidatingAdmissionPolicy (CEL,\n")
		p("in-process). Rule equivalence, checked first: %s.\n\n", e.Equivalence)
		p("A fourth copy, (d), is validated by the floor server registered exactly as the gateway registers\n")
		p("itself: the least any webhook costs on this machine.\n\n")
		p("| variant | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|\n")
		for _, v := range []struct {
			name string
			l    Latency
		}{{"(a) no admission", e.None}, {"(b) gateway webhook", e.Gateway}, {"(c) ValidatingAdmissionPolicy", e.VAP}, {"(d) floor webhook", e.Floor}} {
			p("| %s | %.3f | %.3f | %.3f | %.3f |\n", v.name, v.l.P50, v.l.P95, v.l.P99, v.l.Max)
		}
		p("\n| ratio | p50 | p95 | p99 |\n|---|---|---|---|\n")
		for _, v := range []struct {
			name string
			r    PercentileRatios
		}{
			{"(b)/(c) gateway vs ValidatingAdmissionPolicy", e.GatewayVsVAP},
			{"(b)/(a) gateway vs no admission", e.GatewayVsNone},
			{"(b)/(d) gateway vs floor webhook", e.GatewayVsFloor},
			{"(d)/(c) floor webhook vs ValidatingAdmissionPolicy", e.FloorVsVAP},
		} {
			p("| %s | %.2fx | %.2fx | %.2fx |\n", v.name, v.r.P50, v.r.P95, v.r.P99)
		}
		p("\nThe gateway's /validate handler took %.3f ms per request on average during these creates (its own\n", e.HandlerMeanMs)
		p("metrics: decoding, rules, encoding); the rest of a webhook's cost is the API server's (encoding the\n")
		p("review, the HTTPS round trip, decoding the answer).\n\n")
		var beyond []string
		if e.FloorVsVAP.P50 > 1.10 {
			beyond = append(beyond, fmt.Sprintf("p50 within 1.10x (the floor webhook is %.2fx)", e.FloorVsVAP.P50))
		}
		if e.FloorVsVAP.P99 > 1.25 {
			beyond = append(beyond, fmt.Sprintf("p99 within 1.25x (the floor webhook is %.2fx)", e.FloorVsVAP.P99))
		}
		if len(beyond) > 0 {
			p("No webhook can meet the goal of a %s of the ValidatingAdmissionPolicy on this machine in this\n", strings.Join(beyond, " or a "))
			p("run: the floor webhook decodes and allows, and the gateway is %.2fx its p50 and %.2fx its p99. What\n", e.GatewayVsFloor.P50, e.GatewayVsFloor.P99)
			p("separates the gateway from the policy is the API server calling out at all.\n\n")
		}
	}

	if e := r.Engines; e != nil {
		p("## 2b. Engines\n\n")
		p("%d creates of a Website per variant, one at a time, in %d interleaved rounds, through kube-apiserver,\n", e.Creates, e.Rounds)
		p("each engine against its own baseline. The native engine is the Katalog's ten rules compiled by the\n")
		p("gateway into %s, against the same rules written by hand as one\n", strings.Join(e.Policies, ", "))
		p("ValidatingAdmissionPolicy (assets/vap.yaml); the webhook engine is the gateway's /validate, against the\n")
		p("floor server registered the same way. Rule equivalence, checked first: %s.\n\n", e.Equivalence)
		p("| variant | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|\n")
		for _, v := range []struct {
			name string
			l    Latency
		}{{"no admission", e.None}, {"hand-written ValidatingAdmissionPolicy", e.VAP}, {"engine native", e.Native},
			{"floor webhook", e.Floor}, {"engine webhook", e.Webhook}} {
			p("| %s | %.3f | %.3f | %.3f | %.3f |\n", v.name, v.l.P50, v.l.P95, v.l.P99, v.l.Max)
		}
		p("\n| ratio | p50 | p95 | p99 |\n|---|---|---|---|\n")
		for _, v := range []struct {
			name string
			r    PercentileRatios
		}{
			{"engine native vs hand-written ValidatingAdmissionPolicy", e.NativeVsVAP},
			{"engine webhook vs floor webhook", e.WebhookVsFloor},
			{"engine native vs no admission", e.NativeVsNone},
		} {
			p("| %s | %.2fx | %.2fx | %.2fx |\n", v.name, v.r.P50, v.r.P95, v.r.P99)
		}
		if m := e.PolicyMicros; m.VAP > 0 {
			p("\nThe API server's own time in its ValidatingAdmissionPolicy admission plugin per create (mean of its\n")
			p("`apiserver_admission_controller_admission_duration_seconds` over each variant's creates): no policy\n")
			p("matching %.1f µs, hand-written policy %.1f µs, engine native %.1f µs; what the native policies add is\n", m.None, m.VAP, m.Native)
			p("%.2fx what the hand-written one adds. End-to-end differences well beyond these microseconds are the\n", e.NativeVsVAPPolicy)
			p("machine's noise, not the policies.\n")
		}
		p("\n")
	}

	if s := r.Startup; s != nil {
		p("## 3. Start to ready\n\n")
		p("The gateway binary started in the pod sandbox, from exec to the first 200 of `/readyz` (polled every\n")
		p("2 ms), %d runs each, alternating; \"self-reported\" is the `startup` field of its own `ready` log line.\n", len(s.SecretPresent.ReadyMs.Runs))
		p("With the Secret absent it generates its CA and certificate, creates the Secret and updates the caBundle of\n")
		p("every webhook configuration.\n\n")
		p("| Secret | median ms | min | q1 | q3 | max | self-reported median ms |\n|---|---|---|---|---|---|---|\n")
		for _, v := range []struct {
			name string
			s    StartupRuns
		}{{"present", s.SecretPresent}, {"absent", s.SecretAbsent}} {
			d := v.s.ReadyMs
			p("| %s | **%.1f** | %.1f | %.1f | %.1f | %.1f | %.1f |\n", v.name, d.Median, d.Min, d.Q1, d.Q3, d.Max, v.s.SelfReportedMs.Median)
		}
		p("\n")
	}

	if mu := r.Memory; mu != nil {
		p("## 4. Memory\n\n")
		p("Resident set size (VmRSS), sampled every 100 ms during the load phases of section 1.\n\n")
		p("| process | idle MiB | under load, median MiB | under load, max MiB |\n|---|---|---|---|\n")
		p("| gateway | %.1f | %.1f | %.1f |\n", mu.GatewayIdleMiB, mu.GatewayLoad.MedianMiB, mu.GatewayLoad.MaxMiB)
		p("| floor | %.1f | %.1f | %.1f |\n\n", mu.FloorIdleMiB, mu.FloorLoad.MedianMiB, mu.FloorLoad.MaxMiB)
	}

	if c := r.Conversion; c != nil {
		p("## 5. Conversion\n\n")
		if c.Status != "measured" {
			p("%s: %s\n\n", c.Status, c.Reason)
		} else {
			p("One ConversionReview of %d objects (%.0f KiB, v1 to v2: a rename and a move) through the gateway's\n", c.Objects, c.BodyKiB)
			p("/convert, against the floor's identity conversion (decode each object, set apiVersion, encode), over\n")
			p("the same TLS connection set-up; %d runs each, alternating.\n\n", len(c.GatewayMs.Runs))
			p("| | median ms | min | max |\n|---|---|---|---|\n")
			p("| gateway /convert | %.1f | %.1f | %.1f |\n", c.GatewayMs.Median, c.GatewayMs.Min, c.GatewayMs.Max)
			p("| identity (floor) | %.1f | %.1f | %.1f |\n", c.IdentityMs.Median, c.IdentityMs.Min, c.IdentityMs.Max)
			p("| ratio | **%.2fx** | | |\n\n", c.Ratio)
		}
	}

	if n := r.Notify; n != nil {
		p("## 6. Notify intake\n\n")
		if n.Status != "measured" {
			p("%s: %s\n\n", n.Status, n.Reason)
		} else {
			p("Distinct events (never throttled) POSTed to the gateway's /notify listener over TLS for %.0f s by %d\n", n.Seconds, n.Connections)
			p("connections, closed-loop, with a ServiceAccount token of an allowed caller (checked by TokenReview,\n")
			p("cached); delivery goes to a stub Slack incoming webhook that answers at once. An event the bounded\n")
			p("queue cannot take is refused with 503 and Retry-After, so the accepted rate is what delivery keeps\n")
			p("up with. RSS is the gateway's, before and at the end of the run.\n\n")
			p("| accepted (202) | refused (503) | accepted/s | delivered in the run | p50 ms | p99 ms | RSS before MiB | RSS at the end MiB |\n|---|---|---|---|---|---|---|---|\n")
			p("| %d | %d | **%.0f** | %d | %.3f | %.3f | %.1f | %.1f |\n\n", n.Accepted, n.Refused, n.PerSecond, n.Delivered, n.Latency.P50, n.Latency.P99, n.RSSIdleMiB, n.RSSEndMiB)
		}
	}

	if len(r.Handlers) > 0 {
		p("## 7. Handler cost, in process\n\n")
		p("The same request bodies as section 1 through the gateway's handlers (admission.Serve, with its JSON\n")
		p("logger and metrics, as the gateway mounts them) and the floor's, in the harness process: no TLS, no\n")
		p("network, so what differs is the gateway's own code. CPU per request, GC included, median of %d runs.\n\n", r.Settings.HandlerRuns)
		p("| path | floor CPU µs | gateway CPU µs | ratio | floor allocs (bytes) | gateway allocs (bytes) |\n|---|---|---|---|---|---|\n")
		for _, c := range r.Handlers {
			p("| %s | %.1f | %.1f | **%.2fx** | %d (%d) | %d (%d) |\n", c.Path, c.FloorCPUMicros, c.GatewayCPUMicros, c.Ratio,
				c.FloorAllocs, c.FloorBytes, c.GatewayAllocs, c.GatewayBytes)
		}
		p("\nThe request path reads each review in one pass without reflection (internal/fastjson, checked\n")
		p("against encoding/json by fuzz tests), keeps the objects as slices of the body, decodes of an object\n")
		p("only the fields the rules read (and the whole object only to word a denial), reads the metadata of\n")
		p("a deleted object without building the object, reuses body buffers, and writes a plain allow without\n")
		p("reflection. Profile it with `go test ./bench -run X -bench Handlers -cpuprofile cpu.out`.\n\n")
	}

	if f := r.Flood; f != nil {
		p("## 8. Admission under a /notify flood\n\n")
		if f.Status != "measured" {
			p("%s: %s\n\n", f.Status, f.Reason)
		} else {
			p("The /validate traffic of section 1 at a fixed %.0f req/s (open-loop, %d connections), (a) alone and\n", f.Rate, r.Settings.Connections)
			p("(b) while %d connections flood the same gateway's /notify closed-loop with distinct events as in\n", f.Connections)
			p("section 6 (202 accepted, 429 and 503 refused all count); %d runs of %.0f s each, alternating, medians.\n\n", len(f.Alone.Runs), f.Seconds)
			p("| /validate | achieved (req/s) | p50 ms | p95 ms | p99 ms | p99.9 ms | errors |\n|---|---|---|---|---|---|---|\n")
			for _, v := range []struct {
				name string
				rr   RateRuns
			}{{"(a) alone", f.Alone}, {"(b) under the flood", f.Flooded}} {
				l := v.rr.Median
				p("| %s | %.0f | %.3f | %.3f | %.3f | %.3f | %d |\n", v.name, v.rr.Throughput, l.P50, l.P95, l.P99, l.P999, v.rr.Failed)
			}
			p("| (b)/(a) | | **%.2fx** | | **%.2fx** | | |\n\n", f.P50Ratio, f.P99Ratio)
			p("The flood ran at %.0f /notify requests/s (median; runs: %s), %d accepted and %d refused in all.\n\n",
				f.NotifyRate.Median, joinFloats(f.NotifyRate.Runs, 0), f.NotifyAccepted, f.NotifyRefused)
		}
	}

	if rp := r.Replicas; rp != nil {
		p("## 9. Replicas behind a Service\n\n")
		p("The Service-mode suite (`e2e/ha`, part of `make test`): %d replicas of the gateway binary in pod sandboxes behind a\n", rp.Replicas)
		p("Service without selector, whose EndpointSlices the harness keeps as the endpoints controller would (ready while\n")
		p("`/readyz` answers 200, polled every 200 ms; terminating while a pod stops; removed once it has). The webhooks are\n")
		p("registered by Service reference and the API server routes every call to an endpoint itself. Two workers each send\n")
		p("protected DELETEs (deletion protection, `failurePolicy: Fail`, must deny) and two send Widget CREATEs (validation,\n")
		p("`failurePolicy: Ignore`; invalid ones must be denied, valid ones created), without pause. A call fails when the API\n")
		p("server answers anything else, including an invalid Widget admitted because the validation webhook was not reached.\n")
		p("The rolling update starts a new replica, waits until it is ready and receiving calls, marks an old one terminating,\n")
		p("waits 1 s (the bundle's preStop sleep is 5 s) and sends it SIGTERM, three times. Then one replica is SIGKILLed and\n")
		p("its endpoint removed a second later, as a kubelet would after a failed probe.\n\n")
		p("%s\n", rp.Table())
		p("The calls that fail after a SIGKILL are those the API server sends to the dead replica until its endpoint goes: a\n")
		p("refused dial (or, for calls in flight at the kill, a reset connection). Admission webhook calls are not retried by\n")
		p("the API server, and no setting of the dead process can help, so the count grows with the time to detect the death\n")
		p("and shrinks with the number of replicas (each call has a 1/N chance of being routed to the dead one). A graceful\n")
		p("stop costs nothing: a terminating endpoint is not chosen, and the calls in flight finish before the listener closes.\n\n")
	}

	if len(r.Notes) > 0 {
		p("## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
		p("\n")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "":
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

func joinFloats(xs []float64, decimals int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.*f", decimals, x)
	}
	return strings.Join(parts, ", ")
}
