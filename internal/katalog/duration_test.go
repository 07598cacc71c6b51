package katalog

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"90m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{".5s", 500 * time.Millisecond},
		{"1.s", time.Second},
		{"15m", 15 * time.Minute},
		{"300ms", 300 * time.Millisecond},
		{"10us", 10 * time.Microsecond},
		{"10µs", 10 * time.Microsecond},
		{"7ns", 7},
		{"30d", 30 * 24 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1y", 365 * 24 * time.Hour},
		{"10y", 3650 * 24 * time.Hour},
		{"1y2w3d4h5m6s", (365+14+3)*24*time.Hour + 4*time.Hour + 5*time.Minute + 6*time.Second},
		{"1d1d", 48 * time.Hour},
		{"0.5d", 12 * time.Hour},
		{"292y", 292 * 365 * 24 * time.Hour},
		{"9223372036854775807ns", 1<<63 - 1},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty duration"},
		{"-1h", `duration "-1h" is negative`},
		{"-0s", `duration "-0s" is negative`},
		{"+1h", `invalid duration "+1h": expected a number at "+1h"`},
		{"5", `invalid duration "5": missing unit after "5" (use ns, us, ms, s, m, h, d, w or y)`},
		{"1h30", `invalid duration "1h30": missing unit after "30" (use ns, us, ms, s, m, h, d, w or y)`},
		{"5x", `invalid duration "5x": unknown unit "x" (use ns, us, ms, s, m, h, d, w or y)`},
		{"1mo", `invalid duration "1mo": unknown unit "mo" (use ns, us, ms, s, m, h, d, w or y)`},
		{"1 h", `invalid duration "1 h": unknown unit " h" (use ns, us, ms, s, m, h, d, w or y)`},
		{"d", `invalid duration "d": expected a number at "d"`},
		{"1h.", `invalid duration "1h.": expected a number at "."`},
		{"293y", `duration "293y" is too long (the maximum is about 292y)`},
		{"292y1y", `duration "292y1y" is too long (the maximum is about 292y)`},
		{"9223372036854775808ns", `duration "9223372036854775808ns" is too long (the maximum is about 292y)`},
		{"99999999999999999999999s", `duration "99999999999999999999999s" is too long (the maximum is about 292y)`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want error %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDurationParse(t *testing.T) {
	if d, err := Duration("2w").parse(); err != nil || d != 14*24*time.Hour {
		t.Errorf(`Duration("2w").Parse() = %v, %v`, d, err)
	}
	if _, err := Duration("").parse(); err == nil {
		t.Error(`Duration("").Parse() succeeded`)
	}
}

func FuzzParseDuration(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		switch {
		case err != nil && d != 0:
			t.Fatalf("ParseDuration(%q) = %v with error %v", s, d, err)
		case err == nil && d < 0:
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		// Without signs and the extra units, Go's parser is the reference
		// (to the rounding of fractions, and away from the overflow edge).
		if strings.ContainsAny(s, "+-dwy") {
			return
		}
		want, goErr := time.ParseDuration(s)
		if err == nil && goErr != nil {
			t.Fatalf("ParseDuration(%q) = %v but time.ParseDuration fails: %v", s, d, goErr)
		}
		if err != nil && goErr == nil && want < math.MaxInt64-time.Second {
			t.Fatalf("ParseDuration(%q) fails (%v) but time.ParseDuration = %v", s, err, want)
		}
		if diff := d - want; err == nil && (diff > time.Microsecond || diff < -time.Microsecond) {
			t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration = %v", s, d, want)
		}
	})
}
