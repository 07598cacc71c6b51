package metrics

import (
	"bufio"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// WriteText writes fams in the text exposition format (version 0.0.4):
// HELP and TYPE lines, then one line per sample, as the Prometheus client
// library writes them.
func WriteText(w io.Writer, fams []Family) error {
	bw := bufio.NewWriter(w)
	var num []byte
	for _, f := range fams {
		if len(f.Series) == 0 {
			continue
		}
		bw.WriteString("# HELP ")
		bw.WriteString(f.Name)
		bw.WriteByte(' ')
		helpEscaper.WriteString(bw, f.Help)
		bw.WriteString("\n# TYPE ")
		bw.WriteString(f.Name)
		bw.WriteByte(' ')
		bw.WriteString(f.Type.String())
		bw.WriteByte('\n')
		for _, s := range f.Series {
			switch f.Type {
			case TypeHistogram:
				for i, b := range f.Buckets {
					num = writeSample(bw, num, f.Name, "_bucket", s.Labels, "le", b, float64(s.Buckets[i]))
				}
				num = writeSample(bw, num, f.Name, "_bucket", s.Labels, "le", math.Inf(1), float64(s.Count))
				num = writeSample(bw, num, f.Name, "_sum", s.Labels, "", 0, s.Sum)
				num = writeSample(bw, num, f.Name, "_count", s.Labels, "", 0, float64(s.Count))
			case TypeSummary:
				for _, q := range s.Quantiles {
					num = writeSample(bw, num, f.Name, "", s.Labels, "quantile", q.Quantile, q.Value)
				}
				num = writeSample(bw, num, f.Name, "_sum", s.Labels, "", 0, s.Sum)
				num = writeSample(bw, num, f.Name, "_count", s.Labels, "", 0, float64(s.Count))
			default:
				num = writeSample(bw, num, f.Name, "", s.Labels, "", 0, s.Value)
			}
		}
	}
	return bw.Flush()
}

// writeSample writes one line: the name with its suffix, the labels (and
// the bucket's or quantile's, extra, last), the value. It returns num, the
// buffer it formats numbers in.
func writeSample(w *bufio.Writer, num []byte, name, suffix string, labels []LabelPair, extra string, extraValue, v float64) []byte {
	w.WriteString(name)
	w.WriteString(suffix)
	if len(labels) > 0 || extra != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l.Name)
			w.WriteString(`="`)
			valueEscaper.WriteString(w, l.Value)
			w.WriteByte('"')
		}
		if extra != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extra)
			w.WriteString(`="`)
			num = appendFloat(num[:0], extraValue)
			w.Write(num)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	num = appendFloat(num[:0], v)
	w.Write(num)
	w.WriteByte('\n')
	return num
}

// appendFloat formats v as the text format writes numbers: the shortest
// representation that reads back as v, and +Inf, -Inf, NaN.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// ServeHTTP serves the registry's families in the text format, gzipped
// when the client accepts it (Prometheus servers do).
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	fams := r.Gather()
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(req.Header.Values("Accept-Encoding")) {
		_ = WriteText(w, fams) // an error is the client's going away
		return
	}
	h.Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	_ = WriteText(gz, fams)
	_ = gz.Close()
}

// acceptsGzip reads Accept-Encoding headers: gzip (or *) listed without
// q=0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil {
						f = 0 // a malformed weight: not accepted
					}
					q = f
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}
