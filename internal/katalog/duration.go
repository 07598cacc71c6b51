package katalog

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

const (
	day  = 24 * time.Hour
	week = 7 * day
	year = 365 * day
)

var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond,
	"us": time.Microsecond,
	"µs": time.Microsecond, // U+00B5 micro sign
	"μs": time.Microsecond, // U+03BC Greek mu
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  day,
	"w":  week,
	"y":  year,
}

const unitList = "ns, us, ms, s, m, h, d, w or y"

// ParseDuration parses a Katalog duration: one or more decimal numbers, each
// with a unit, as in Go ("1h30m", "1.5h", "90m"), plus d (24h), w (7d) and
// y (365d): "30d", "2w", "1y". "0" is zero; negative values are rejected.
func ParseDuration(s string) (time.Duration, error) {
	switch {
	case s == "":
		return 0, fmt.Errorf("empty duration")
	case s == "0":
		return 0, nil
	case s[0] == '-':
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	var total time.Duration
	for rest := s; rest != ""; {
		// A number: digits, optionally a fraction.
		i := digits(rest, 0)
		whole := rest[:i]
		frac := ""
		if i < len(rest) && rest[i] == '.' {
			j := digits(rest, i+1)
			frac, i = rest[i+1:j], j
		}
		if whole == "" && frac == "" {
			return 0, fmt.Errorf("invalid duration %q: expected a number at %q", s, rest)
		}
		// A unit: everything up to the next number.
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		name := rest[i:j]
		if name == "" {
			return 0, fmt.Errorf("invalid duration %q: missing unit after %q (use %s)", s, rest[:i], unitList)
		}
		unit, ok := durationUnits[name]
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use %s)", s, name, unitList)
		}
		v, ok := component(whole, frac, unit)
		if !ok || v > math.MaxInt64-total {
			return 0, fmt.Errorf("duration %q is too long (the maximum is about 292y)", s)
		}
		total += v
		rest = rest[j:]
	}
	return total, nil
}

// parse returns the length of d; see ParseDuration.
func (d Duration) parse() (time.Duration, error) { return ParseDuration(string(d)) }

// digits returns the index of the first non-digit in s at or after i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// component is whole.frac units, or false when it overflows.
func component(whole, frac string, unit time.Duration) (time.Duration, bool) {
	var v time.Duration
	if whole != "" {
		w, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || w > math.MaxInt64/int64(unit) {
			return 0, false
		}
		v = time.Duration(w) * unit
	}
	if frac != "" {
		// Nanosecond precision needs at most 18 fraction digits.
		if len(frac) > 18 {
			frac = frac[:18]
		}
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil {
			return 0, false
		}
		add := time.Duration(f * float64(unit))
		if add > math.MaxInt64-v {
			return 0, false
		}
		v += add
	}
	return v, true
}
