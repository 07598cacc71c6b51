package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// HistogramTotals reads the _sum and _count of one series of a histogram
// from Prometheus text exposition: metric is the histogram's name, labels
// the series' label pairs as exposed (webhook="validate").
func HistogramTotals(text []byte, metric, labels string) (sum, count float64, err error) {
	var haveSum, haveCount bool
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		lbls, value, ok := strings.Cut(rest, "} ")
		if !ok || lbls != labels {
			continue
		}
		var dst *float64
		switch name {
		case metric + "_sum":
			dst, haveSum = &sum, true
		case metric + "_count":
			dst, haveCount = &count, true
		default:
			continue
		}
		v, _, _ := strings.Cut(strings.TrimSpace(value), " ") // an optional timestamp follows
		if *dst, err = strconv.ParseFloat(v, 64); err != nil {
			return 0, 0, fmt.Errorf("%s{%s}: bad value %q", name, lbls, v)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !haveSum || !haveCount {
		return 0, 0, fmt.Errorf("no %s_sum and _count with {%s}", metric, labels)
	}
	return sum, count, nil
}
