package bench

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	// Shuffled input: Summarize sorts.
	for i := range ds {
		j := (i * 7919) % len(ds)
		ds[i], ds[j] = ds[j], ds[i]
	}
	l := Summarize(ds)
	want := Latency{N: 1000, P50: 500, P95: 950, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if l != want {
		t.Errorf("Summarize = %+v, want %+v", l, want)
	}
	if got := Percentile([]time.Duration{5}, 99.9); got != 5 {
		t.Errorf("percentile of one value = %v", got)
	}
	if got := Percentile([]time.Duration{1, 2, 3}, 50); got != 2 {
		t.Errorf("median of 1,2,3 = %v", got)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("no latencies should summarise to zero")
	}
}

func TestSpread(t *testing.T) {
	s := SpreadOf([]float64{40, 10, 30, 20})
	if s.Median != 25 || s.Min != 10 || s.Max != 40 || s.Q1 != 17.5 || s.Q3 != 32.5 {
		t.Errorf("SpreadOf = %+v", s)
	}
	if s.Runs[0] != 40 {
		t.Errorf("runs lost their order: %v", s.Runs)
	}
	if one := SpreadOf([]float64{7}); one.Median != 7 || one.Q1 != 7 {
		t.Errorf("one run: %+v", one)
	}
	if Ratio(1, 0) != 0 || Ratio(3, 2) != 1.5 {
		t.Error("Ratio")
	}
}

func TestMedianOf(t *testing.T) {
	runs := []Run{
		{Throughput: 100, Errors: 1, Latency: Latency{P50: 1, P99: 10}},
		{Throughput: 90, Missed: 2, Latency: Latency{P50: 3, P99: 500}}, // a noisy run
		{Throughput: 95, Latency: Latency{P50: 2, P99: 12}},
	}
	rr := MedianOf(runs)
	if rr.Median.P50 != 2 || rr.Median.P99 != 12 || rr.Throughput != 95 || rr.Failed != 3 || len(rr.Runs) != 3 {
		t.Errorf("MedianOf = %+v", rr)
	}
}

// tlsTarget serves h over TLS and returns a Target with the load
// generator's client, trusting the test server's certificate.
func tlsTarget(t *testing.T, h http.Handler, conns int) (Target, *httptest.Server) {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := NewClient(ca, conns)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Client: c, URL: srv.URL + "/validate", Bodies: [][]byte{[]byte(`{}`)}}, srv
}

func TestFixedSendsTheScheduledRequests(t *testing.T) {
	var n atomic.Int64
	tgt, _ := tlsTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write([]byte("ok"))
	}), 4)
	run := Fixed(context.Background(), tgt, 200, 4, 500*time.Millisecond, 5*time.Second)
	// 200/s for 0.5 s: exactly 100 requests are due, each sent once.
	if run.Sent != 100 || n.Load() != 100 || run.Errors != 0 || run.Missed != 0 {
		t.Fatalf("sent %d, server saw %d, errors %d, missed %d; want 100 each and no failure", run.Sent, n.Load(), run.Errors, run.Missed)
	}
	if run.Latency.N != 100 || run.Rate != 200 {
		t.Errorf("run = %+v", run)
	}
}

func TestFixedCountsMissedRequests(t *testing.T) {
	tgt, _ := tlsTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
	}), 1)
	// One connection, 100 ms per answer: at 100/s for 0.2 s, 20 are due
	// and at most a handful are sent before the deadline.
	run := Fixed(context.Background(), tgt, 100, 1, 200*time.Millisecond, 100*time.Millisecond)
	if run.Missed == 0 || run.Sent+run.Missed != 20 {
		t.Errorf("sent %d, missed %d: want every due request counted, some missed", run.Sent, run.Missed)
	}
}

func TestMaxCountsFailures(t *testing.T) {
	var n atomic.Int64
	tgt, _ := tlsTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}), 2)
	run := Max(context.Background(), tgt, 2, 300*time.Millisecond)
	if run.Sent == 0 || run.Errors == 0 || run.Errors == run.Sent {
		t.Fatalf("sent %d, errors %d: want both successes and failures", run.Sent, run.Errors)
	}
	if !strings.Contains(run.FirstError, "503") {
		t.Errorf("first error %q does not give the status", run.FirstError)
	}
	if run.Latency.N != int(run.Sent-run.Errors) {
		t.Errorf("%d latencies for %d successes", run.Latency.N, run.Sent-run.Errors)
	}
}

func TestTargetBodiesAndHeaders(t *testing.T) {
	seen := make(chan string, 16)
	tgt, _ := tlsTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		seen <- r.Header.Get("Content-Type") + " " + r.Header.Get("Authorization") + " " + b.String()
		w.WriteHeader(http.StatusAccepted)
	}), 1)
	tgt.Header = http.Header{"Authorization": {"Bearer x"}}
	tgt.Body = func(i int64) []byte { return []byte{byte('a' + i)} }
	tgt.OK = func(status int, _ []byte) bool { return status == http.StatusAccepted }
	run := Fixed(context.Background(), tgt, 100, 1, 30*time.Millisecond, time.Second)
	if run.Errors != 0 || run.Sent != 3 {
		t.Fatalf("run = %+v", run)
	}
	for _, want := range []string{"application/json Bearer x a", "application/json Bearer x b", "application/json Bearer x c"} {
		if got := <-seen; got != want {
			t.Errorf("request %q, want %q", got, want)
		}
	}
}

func TestFloorAdmit(t *testing.T) {
	out, err := FloorAdmit(DeleteReview())
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		APIVersion string `json:"apiVersion"`
		Response   struct {
			UID     string `json:"uid"`
			Allowed bool   `json:"allowed"`
		} `json:"response"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.APIVersion != "admission.k8s.io/v1" || r.Response.UID != "9d8c7b6a-5f4e-4d3c-8b2a-000000000001" || !r.Response.Allowed {
		t.Errorf("floor answer %s", out)
	}
	for _, bad := range []string{`{`, `{"apiVersion":"admission.k8s.io/v1"}`, `[]`} {
		if _, err := FloorAdmit([]byte(bad)); err == nil {
			t.Errorf("FloorAdmit(%s) succeeded", bad)
		}
	}
}

func TestFloorConvert(t *testing.T) {
	out, err := FloorConvert(ConversionReview(3))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Response struct {
			UID              string           `json:"uid"`
			ConvertedObjects []map[string]any `json:"convertedObjects"`
			Result           struct{ Status string }
		} `json:"response"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Response.ConvertedObjects) != 3 || r.Response.Result.Status != "Success" {
		t.Fatalf("answer %s", out)
	}
	o := r.Response.ConvertedObjects[2]
	if o["apiVersion"] != GroupConvert+"/v2" || o["spec"].(map[string]any)["size"] != 2.0 {
		t.Errorf("identity conversion changed more than apiVersion: %v", o)
	}
	if _, err := FloorConvert([]byte(`{"request":{"objects":[1]}}`)); err == nil {
		t.Error("a non-object was converted")
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tork\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	n, err := ParseStatusRSS([]byte(status))
	if err != nil || n != 12345*1024 {
		t.Errorf("ParseStatusRSS = %d, %v", n, err)
	}
	for _, bad := range []string{"", "VmRSS:\t12 MB\n", "VmRSS: x kB\n", "VmRSS: -1 kB\n", "Name: x\n"} {
		if _, err := ParseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("ParseStatusRSS(%q) succeeded", bad)
		}
	}
	if got := ParseCPUModel([]byte("processor\t: 0\nmodel name\t: Intel(R)  Xeon(R)   Processor\n")); got != "Intel(R) Xeon(R) Processor" {
		t.Errorf("ParseCPUModel = %q", got)
	}
}

func TestReport(t *testing.T) {
	r := &Results{
		Schema:   SchemaVersion,
		Started:  time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Machine:  Machine{CPU: "Test CPU", Cores: 2, GOMAXPROCS: 2},
		Settings: Settings{Connections: 32, MaxRuns: 3, RateRuns: 3},
		Webhooks: []Endpoint{{
			Path: "/validate", MaxFloor: SpreadOf([]float64{1000}), MaxGateway: SpreadOf([]float64{900}), MaxRatio: 0.9,
			Rates: []RatePoint{{Label: "fixed", Rate: 1000, P99Ratio: 1.23,
				Floor:   MedianOf([]Run{{Throughput: 1000, Latency: Latency{P99: 2}}}),
				Gateway: MedianOf([]Run{{Throughput: 1000, Latency: Latency{P99: 2.46}}})}},
		}},
		Conversion: &Conversion{Status: NotMeasured, Reason: "internal/conversion is not wired"},
		Goals:      []Goal{{Name: "g", Target: ">= 0.80x", Value: 0.9, Unit: "x", Met: true}},
	}
	md := r.Markdown()
	for _, want := range []string{"Test CPU", "**0.90x**", "**1.23x**", "| fixed (1000/s) |", "not yet measured: internal/conversion is not wired", "| g | >= 0.80x | 0.90x | yes |"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	back, err := ReadResults(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Webhooks[0].Rates[0].Gateway.Median.P99 != 2.46 || back.Conversion.Status != NotMeasured {
		t.Errorf("results did not survive JSON: %+v", back.Webhooks[0])
	}
	if _, err := ReadResults([]byte(`{"schema": 99}`)); err == nil {
		t.Error("a results file of another schema was read")
	}
}

func FuzzParseStatusRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t  1234 kB\n"))
	f.Fuzz(func(t *testing.T, status []byte) {
		n, err := ParseStatusRSS(status)
		if err == nil && (n < 0 || n%1024 != 0) {
			t.Fatalf("RSS %d from %q", n, status)
		}
		ParseCPUModel(status)
	})
}

func FuzzReadResults(f *testing.F) {
	f.Add([]byte(`{"schema":1,"webhooks":[{"path":"/validate","maxRatio":0.9}],"goals":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ReadResults(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("cannot re-encode: %v", err)
		}
		if _, err := ReadResults(out); err != nil {
			t.Fatalf("re-encoded results do not read back: %v", err)
		}
		r.Markdown() // renders whatever was read
	})
}

const exposition = `# HELP orkestra_gateway_admission_request_duration_seconds Time to answer an admission request, by webhook.
# TYPE orkestra_gateway_admission_request_duration_seconds histogram
orkestra_gateway_admission_request_duration_seconds_bucket{webhook="validate",le="0.0001"} 3
orkestra_gateway_admission_request_duration_seconds_sum{webhook="deletion-protection"} 9
orkestra_gateway_admission_request_duration_seconds_count{webhook="deletion-protection"} 90
orkestra_gateway_admission_request_duration_seconds_sum{webhook="validate"} 0.25
orkestra_gateway_admission_request_duration_seconds_count{webhook="validate"} 1000 1700000000
`

func TestHistogramTotals(t *testing.T) {
	sum, count, err := HistogramTotals([]byte(exposition), "orkestra_gateway_admission_request_duration_seconds", `webhook="validate"`)
	if err != nil || sum != 0.25 || count != 1000 {
		t.Errorf("HistogramTotals = %v, %v, %v", sum, count, err)
	}
	if _, _, err := HistogramTotals([]byte(exposition), "orkestra_gateway_admission_request_duration_seconds", `webhook="mutate"`); err == nil {
		t.Error("a missing series was found")
	}
	bad := strings.Replace(exposition, "} 0.25", "} x", 1)
	if _, _, err := HistogramTotals([]byte(bad), "orkestra_gateway_admission_request_duration_seconds", `webhook="validate"`); err == nil {
		t.Error("a malformed value was read")
	}
}

func FuzzHistogramTotals(f *testing.F) {
	f.Add([]byte(exposition))
	f.Fuzz(func(t *testing.T, text []byte) {
		sum, count, err := HistogramTotals(text, "orkestra_gateway_admission_request_duration_seconds", `webhook="validate"`)
		if err == nil && !strings.Contains(string(text), "_count{") {
			t.Fatalf("totals %v/%v without a count line", sum, count)
		}
	})
}
