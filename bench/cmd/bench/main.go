// Command bench is `make bench`: in one run it measures the gateway
// against its baselines (the floor webhook server, no admission, a
// ValidatingAdmissionPolicy, the identity conversion) and writes
// bench/results.json and docs/benchmarks.md.
//
//	go run ./bench/cmd/bench [-quick] [-only handlers,webhooks,conversion,e2e,engines,notify,flood,startup,replicas]
//
// With -only, the sections not run keep their figures from the results
// already in -out (and the report says which run they come from).
//
// It needs root (the pod sandbox mounts a tmpfs in a private mount
// namespace) and KUBEBUILDER_ASSETS (hack/testenv.sh) for kube-apiserver
// and etcd. Everything listens on loopback; every load phase is bounded in
// time. The floor webhook server is this program too, run as a child
// process: `bench floor`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/orkspace/orkestra-gateway/bench"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "floor":
			os.Exit(floorMain(os.Args[2:]))
		}
	}
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// sections in the order they run.
var sections = []string{"handlers", "webhooks", "conversion", "e2e", "engines", "notify", "flood", "startup", "replicas"}

type options struct {
	out, doc    string
	quick       bool
	only        []string
	conns       int
	maxDur      time.Duration
	maxRuns     int
	rateDur     time.Duration
	rateRuns    int
	creates     int
	startups    int
	convRuns    int
	notifyDur   time.Duration
	floodDur    time.Duration
	floodRuns   int
	handlerRuns int
	keepWorkdir bool
	render      bool
	merge       bool
}

func (o *options) want(section string) bool {
	return len(o.only) == 0 || slices.Contains(o.only, section)
}

func parseArgs(args []string) (*options, error) {
	o := &options{}
	var only string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "bench/results.json", "machine-readable results")
	fs.StringVar(&o.doc, "doc", "docs/benchmarks.md", "the generated report")
	fs.BoolVar(&o.quick, "quick", false, "short phases and few runs: a smoke test of the harness, not figures to publish")
	fs.StringVar(&only, "only", "", "comma-separated sections to run: "+strings.Join(sections, ","))
	fs.IntVar(&o.conns, "conns", 32, "connections of the load generator")
	fs.DurationVar(&o.maxDur, "max-phase", 4*time.Second, "length of one maximum-throughput run")
	fs.IntVar(&o.maxRuns, "max-runs", 3, "maximum-throughput runs per server")
	fs.DurationVar(&o.rateDur, "rate-phase", 4*time.Second, "length of one fixed-rate run")
	fs.IntVar(&o.rateRuns, "rate-runs", 5, "fixed-rate runs per server and rate")
	fs.IntVar(&o.creates, "creates", 600, "creates per variant in the end-to-end benchmark")
	fs.IntVar(&o.startups, "startups", 12, "start-to-ready runs with the Secret present, and as many absent")
	fs.IntVar(&o.convRuns, "conversion-runs", 15, "ConversionReviews per server")
	fs.DurationVar(&o.notifyDur, "notify-phase", 5*time.Second, "length of the notify intake run")
	fs.DurationVar(&o.floodDur, "flood-phase", 4*time.Second, "length of one /validate run of the flood section")
	fs.IntVar(&o.floodRuns, "flood-runs", 3, "/validate runs alone, and as many under a /notify flood")
	fs.IntVar(&o.handlerRuns, "handler-runs", 5, "in-process handler measurements per server")
	fs.BoolVar(&o.render, "render", false, "measure nothing: render -doc again from the results in -out")
	fs.BoolVar(&o.keepWorkdir, "keep", false, "keep the work directory (binary, Katalog, logs)")
	fs.BoolVar(&o.merge, "merge", false, "with -only replicas: measure that section again and keep the others of -out")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if only != "" {
		for _, s := range strings.Split(only, ",") {
			if !slices.Contains(sections, s) {
				return nil, fmt.Errorf("-only: unknown section %q (sections: %s)", s, strings.Join(sections, ", "))
			}
			o.only = append(o.only, s)
		}
	}
	if o.merge && !slices.Equal(o.only, []string{"replicas"}) {
		return nil, errors.New("-merge goes with -only replicas (the section that runs apart from the harness's control plane)")
	}
	if o.quick {
		o.maxDur, o.maxRuns, o.rateDur, o.rateRuns = time.Second, 1, time.Second, 1
		o.creates, o.startups, o.convRuns, o.notifyDur, o.handlerRuns = 60, 3, 3, time.Second, 1
		o.floodDur, o.floodRuns = time.Second, 1
	}
	switch {
	case o.conns < 1:
		return nil, errors.New("-conns must be at least 1")
	case o.maxDur <= 0 || o.rateDur <= 0 || o.notifyDur <= 0 || o.floodDur <= 0:
		return nil, errors.New("phase lengths must be positive")
	case o.maxRuns < 1 || o.rateRuns < 1 || o.startups < 1 || o.convRuns < 1 || o.handlerRuns < 1 || o.floodRuns < 1:
		return nil, errors.New("run counts must be at least 1")
	case o.creates < 10:
		return nil, errors.New("-creates must be at least 10")
	}
	return o, nil
}

func run() error {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		return err
	}
	if o.render {
		return render(o)
	}
	if o.merge {
		return mergeReplicas(o)
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: the gateway runs in a pod sandbox (a private mount namespace with a tmpfs over /run)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	res := &bench.Results{
		Schema:  bench.SchemaVersion,
		Started: start.UTC(),
		Machine: bench.ThisMachine(),
		Settings: bench.Settings{
			Connections: o.conns, MaxSeconds: o.maxDur.Seconds(), MaxRuns: o.maxRuns, RateSeconds: o.rateDur.Seconds(), RateRuns: o.rateRuns,
			Creates: o.creates, StartupRuns: o.startups, ConversionRun: o.convRuns, NotifySeconds: o.notifyDur.Seconds(),
			HandlerRuns: o.handlerRuns, FloodSeconds: o.floodDur.Seconds(), FloodRuns: o.floodRuns,
		},
	}
	if o.quick {
		res.Notes = append(res.Notes, "quick run (-quick): short phases and few runs; a smoke test of the harness, not figures to publish")
	}

	h, err := newHarness(o)
	if err != nil {
		return err
	}
	defer h.close()
	if o.want("handlers") {
		if res.Handlers, err = h.handlers(); err != nil {
			return fmt.Errorf("handler cost: %w", err)
		}
	}
	if o.want("webhooks") || o.want("conversion") || o.want("e2e") || o.want("engines") || o.want("notify") || o.want("flood") || o.want("startup") {
		if err := h.setup(ctx, res); err != nil {
			return err
		}
	}

	needGateway := o.want("webhooks") || o.want("conversion") || o.want("e2e") || o.want("engines") || o.want("notify") || o.want("flood")
	if needGateway {
		if err := h.startMain(ctx); err != nil {
			return err
		}
	}
	if o.want("webhooks") {
		if err := h.webhooks(ctx, res); err != nil {
			return fmt.Errorf("webhook benchmark: %w", err)
		}
	}
	if o.want("conversion") {
		res.Conversion = h.conversion(ctx)
	}
	if o.want("e2e") {
		if res.EndToEnd, err = h.endToEnd(ctx); err != nil {
			return fmt.Errorf("end-to-end benchmark: %w", err)
		}
	}
	if o.want("engines") {
		if res.Engines, err = h.engines(ctx); err != nil {
			return fmt.Errorf("engines benchmark: %w", err)
		}
	}
	if o.want("notify") {
		res.Notify = h.notify(ctx)
	}
	if o.want("flood") {
		if res.Flood, err = h.flood(ctx); err != nil {
			return fmt.Errorf("notify flood benchmark: %w", err)
		}
	}
	h.stopMain()
	if o.want("startup") {
		if res.Startup, err = h.startup(ctx); err != nil {
			return fmt.Errorf("start-to-ready benchmark: %w", err)
		}
	}
	if o.want("replicas") {
		// Its own control plane, in its own network namespace: the
		// harness's is idle meanwhile.
		if res.Replicas, err = h.replicas(ctx); err != nil {
			return fmt.Errorf("replicas behind a Service: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	res.Machine.LoadEnd = bench.LoadAverage()
	if len(o.only) > 0 {
		keepOthers(res, o)
	}
	res.Goals = goals(res)
	res.Seconds = bench.Round(time.Since(start).Seconds(), 1)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := res.WriteJSON(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.doc), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.doc, []byte(res.Markdown()), 0o644); err != nil {
		return err
	}
	h.logf("wrote %s and %s in %s", o.out, o.doc, time.Since(start).Round(time.Second))
	for _, g := range res.Goals {
		h.logf("goal %-55s %-12s %8.3f %s met=%v", g.Name, g.Target, g.Value, g.Unit, g.Met)
	}
	return nil
}

// mergeReplicas measures section 9 again into the results of an earlier
// run and renders the report.
func mergeReplicas(o *options) error {
	b, err := os.ReadFile(o.out)
	if err != nil {
		return err
	}
	res, err := bench.ReadResults(b)
	if err != nil {
		return fmt.Errorf("%s: %w", o.out, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := newHarness(o)
	if err != nil {
		return err
	}
	defer h.close()
	if res.Replicas, err = h.replicas(ctx); err != nil {
		return fmt.Errorf("replicas behind a Service: %w", err)
	}
	note := "section 9 measured on " + time.Now().UTC().Format("2006-01-02 15:04 MST") + " (-only replicas -merge), the others on the date above"
	res.Notes = append(slices.DeleteFunc(res.Notes, func(n string) bool { return strings.HasPrefix(n, "section 9 measured on ") }), note)
	res.Goals = goals(res)
	if err := res.WriteJSON(o.out); err != nil {
		return err
	}
	return os.WriteFile(o.doc, []byte(res.Markdown()), 0o644)
}

// keepOthers fills the sections a -only run did not measure from the
// results already in o.out, so a partial run updates the report instead of
// emptying it, and notes where those figures come from.
func keepOthers(res *bench.Results, o *options) {
	b, err := os.ReadFile(o.out)
	if err != nil {
		return
	}
	prev, err := bench.ReadResults(b)
	if err != nil {
		return
	}
	var kept []string
	keep := func(section string, copyIt func()) {
		if !o.want(section) {
			copyIt()
			kept = append(kept, section)
		}
	}
	keep("handlers", func() { res.Handlers = prev.Handlers })
	keep("webhooks", func() { res.Webhooks = prev.Webhooks; res.Memory = prev.Memory })
	keep("conversion", func() { res.Conversion = prev.Conversion })
	keep("e2e", func() { res.EndToEnd = prev.EndToEnd })
	keep("engines", func() { res.Engines = prev.Engines })
	keep("notify", func() { res.Notify = prev.Notify })
	keep("flood", func() { res.Flood = prev.Flood })
	keep("startup", func() { res.Startup = prev.Startup })
	keep("replicas", func() { res.Replicas = prev.Replicas })
	for _, n := range prev.Notes {
		if !strings.HasPrefix(n, "Sections ") {
			res.Notes = append(res.Notes, n)
		}
	}
	res.KeptFrom = prev.KeptFrom
	if res.KeptFrom == "" {
		res.KeptFrom = prev.Started.UTC().Format(time.RFC3339)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("Sections %s come from the run of %s (%s); this run (-only %s) measured the rest.",
		strings.Join(kept, ", "), res.KeptFrom, prev.Machine.APIServer, strings.Join(o.only, ",")))
}

// render writes the report of an earlier run again, from its results.
func render(o *options) error {
	b, err := os.ReadFile(o.out)
	if err != nil {
		return err
	}
	res, err := bench.ReadResults(b)
	if err != nil {
		return fmt.Errorf("%s: %w", o.out, err)
	}
	res.Goals = goals(res)
	return os.WriteFile(o.doc, []byte(res.Markdown()), 0o644)
}

// goals checks the performance targets against res.
func goals(res *bench.Results) []bench.Goal {
	var gs []bench.Goal
	for _, e := range res.Webhooks {
		gs = append(gs, bench.Goal{Name: e.Path + " max throughput vs floor", Target: ">= 0.80x", Value: e.MaxRatio, Unit: "x", Met: e.MaxRatio >= 0.8})
		for _, rp := range e.Rates {
			if rp.Label != "fixed" {
				continue
			}
			gs = append(gs, bench.Goal{
				Name: fmt.Sprintf("%s p99 vs floor at %.0f req/s", e.Path, rp.Rate), Target: "<= 1.50x",
				Value: rp.P99Ratio, Unit: "x", Met: rp.P99Ratio > 0 && rp.P99Ratio <= 1.5,
			})
		}
	}
	if e := res.EndToEnd; e != nil {
		gs = append(gs,
			bench.Goal{Name: "end to end p50, gateway vs ValidatingAdmissionPolicy", Target: "<= 1.10x", Value: e.GatewayVsVAP.P50, Unit: "x", Met: e.GatewayVsVAP.P50 <= 1.10},
			bench.Goal{Name: "end to end p99, gateway vs ValidatingAdmissionPolicy", Target: "<= 1.25x", Value: e.GatewayVsVAP.P99, Unit: "x", Met: e.GatewayVsVAP.P99 <= 1.25},
		)
	}
	if f := res.Flood; f != nil && f.Status == "measured" {
		gs = append(gs, bench.Goal{Name: "/validate p99 under a /notify flood vs alone", Target: "<= 1.50x", Value: f.P99Ratio, Unit: "x", Met: f.P99Ratio > 0 && f.P99Ratio <= 1.5})
	}
	if e := res.Engines; e != nil {
		gs = append(gs,
			bench.Goal{Name: "end to end p50, engine native vs hand-written ValidatingAdmissionPolicy", Target: "<= 1.05x", Value: e.NativeVsVAP.P50, Unit: "x", Met: e.NativeVsVAP.P50 <= 1.05},
			bench.Goal{Name: "end to end p99, engine native vs hand-written ValidatingAdmissionPolicy", Target: "<= 1.05x", Value: e.NativeVsVAP.P99, Unit: "x", Met: e.NativeVsVAP.P99 <= 1.05},
			bench.Goal{Name: "end to end p50, engine webhook vs floor webhook", Target: "<= 1.05x", Value: e.WebhookVsFloor.P50, Unit: "x", Met: e.WebhookVsFloor.P50 <= 1.05},
			bench.Goal{Name: "end to end p99, engine webhook vs floor webhook", Target: "<= 1.05x", Value: e.WebhookVsFloor.P99, Unit: "x", Met: e.WebhookVsFloor.P99 <= 1.05},
		)
	}
	if s := res.Startup; s != nil {
		m := s.SecretPresent.ReadyMs.Median
		gs = append(gs, bench.Goal{Name: "start to ready, Secret present (median)", Target: "< 150 ms", Value: m, Unit: "ms", Met: m > 0 && m < 150})
	}
	return gs
}
