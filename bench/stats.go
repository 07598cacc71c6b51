package bench

import (
	"math"
	"slices"
	"time"
)

// Latency summarises a set of request latencies. Durations are in
// milliseconds so that results.json reads without unit conversions.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50Ms"`
	P95  float64 `json:"p95Ms"`
	P99  float64 `json:"p99Ms"`
	P999 float64 `json:"p999Ms"`
	Max  float64 `json:"maxMs"`
	Mean float64 `json:"meanMs"`
}

// Summarize computes the percentiles of ds (nearest rank, no
// interpolation: a reported p99 is a latency some request really had). It
// sorts ds in place. An empty ds gives the zero Latency.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		N:    len(ds),
		P50:  ms(Percentile(ds, 50)),
		P95:  ms(Percentile(ds, 95)),
		P99:  ms(Percentile(ds, 99)),
		P999: ms(Percentile(ds, 99.9)),
		Max:  ms(ds[len(ds)-1]),
		Mean: ms(sum / time.Duration(len(ds))),
	}
}

// Percentile is the nearest-rank p-th percentile of sorted (0 < p <= 100):
// the smallest value with at least p% of the values at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 99.9% of 1000 at rank 999: in floating point it
	// is 999.0000000000001.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return Round(float64(d)/float64(time.Millisecond), 4) }

// Round rounds x to n decimals, for stable JSON.
func Round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}

// Spread describes repeated measurements of one quantity: the median is
// the figure reported, min, max and the interquartile range say how much
// the runs disagreed.
type Spread struct {
	Runs   []float64 `json:"runs"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Q1     float64   `json:"q1"`
	Q3     float64   `json:"q3"`
}

// SpreadOf summarises xs (kept in the order measured).
func SpreadOf(xs []float64) Spread {
	s := Spread{Runs: slices.Clone(xs)}
	if len(xs) == 0 {
		return s
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	s.Median = Round(quantile(sorted, 0.5), 4)
	s.Q1 = Round(quantile(sorted, 0.25), 4)
	s.Q3 = Round(quantile(sorted, 0.75), 4)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	return s
}

// quantile interpolates linearly between the closest ranks of sorted (the
// usual definition for medians of small samples: the median of 4, 6 is 5).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// Ratio is a/b rounded for reports; 0 when b is 0 (nothing to compare with).
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return Round(a/b, 3)
}
