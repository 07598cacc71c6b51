package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of the CPU times of /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture the gateway is built for).
const userHZ = 100

// Collect implements Collector.
func (c *processCollector) Collect(f func(*Desc, Sample)) {
	if st, err := c.stat(); err == nil {
		f(processCPU, Sample{Value: st.cpu})
		f(processVirtual, Sample{Value: st.vsize})
		f(processResident, Sample{Value: st.rss})
		if boot, err := c.bootTime(); err == nil {
			f(processStart, Sample{Value: boot + st.start})
		}
	}
	if n, err := c.openFDs(); err == nil {
		f(processOpenFDs, Sample{Value: n})
	}
	if fds, vm, err := c.limits(); err == nil {
		f(processMaxFDs, Sample{Value: fds})
		f(processMaxVirt, Sample{Value: vm})
	}
	if in, out, err := c.netstat(); err == nil {
		f(processNetIn, Sample{Value: in})
		f(processNetOut, Sample{Value: out})
	}
}

type procStat struct {
	cpu, vsize, rss, start float64 // start: seconds after boot
}

var errProcFormat = errors.New("unexpected format")

// stat reads /proc/<pid>/stat: the fields after the command (which is in
// parentheses and may hold spaces and parentheses itself).
func (c *processCollector) stat() (procStat, error) {
	b, err := os.ReadFile(filepath.Join(c.proc, "stat"))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errProcFormat
	}
	// Field 3 (state) is the first after the command; utime is field 14,
	// stime 15, starttime 22, vsize 23, rss 24 (in pages).
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 22 {
		return procStat{}, errProcFormat
	}
	var v [5]uint64
	for j, k := range []int{14, 15, 22, 23, 24} {
		if v[j], err = strconv.ParseUint(fields[k-3], 10, 64); err != nil {
			return procStat{}, err
		}
	}
	return procStat{
		cpu:   float64(v[0]+v[1]) / userHZ,
		start: float64(v[2]) / userHZ,
		vsize: float64(v[3]),
		rss:   float64(v[4]) * float64(os.Getpagesize()),
	}, nil
}

// bootTime reads btime, the boot time in Unix seconds, from /proc/stat.
func (c *processCollector) bootTime() (float64, error) {
	b, err := os.ReadFile(filepath.Join(c.root, "stat"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return float64(n), err
		}
	}
	return 0, errProcFormat
}

func (c *processCollector) openFDs() (float64, error) {
	d, err := os.Open(filepath.Join(c.proc, "fd"))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return float64(len(names)), err
}

// limits reads the soft limits on open files and address space from
// /proc/<pid>/limits ("unlimited" is the largest uint64, as the client
// library reports it).
func (c *processCollector) limits() (fds, vm float64, err error) {
	b, err := os.ReadFile(filepath.Join(c.proc, "limits"))
	if err != nil {
		return 0, 0, err
	}
	var found int
	for line := range strings.SplitSeq(string(b), "\n") {
		var dst *float64
		switch {
		case strings.HasPrefix(line, "Max open files "):
			dst = &fds
		case strings.HasPrefix(line, "Max address space "):
			dst = &vm
		default:
			continue
		}
		// "Max open files            1048576              1048576              files"
		fields := strings.Fields(line)
		if len(fields) < 5 {
			return 0, 0, errProcFormat
		}
		soft := fields[3]
		if soft == "unlimited" {
			*dst = math.MaxUint64
		} else {
			n, err := strconv.ParseUint(soft, 10, 64)
			if err != nil {
				return 0, 0, err
			}
			*dst = float64(n)
		}
		found++
	}
	if found != 2 {
		return 0, 0, errProcFormat
	}
	return fds, vm, nil
}

// netstat reads the bytes received and sent by the process's network
// namespace (IpExt InOctets and OutOctets of /proc/<pid>/net/netstat).
func (c *processCollector) netstat() (in, out float64, err error) {
	f, err := os.Open(filepath.Join(c.proc, "net", "netstat"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "IpExt:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		values := fields[1:]
		if len(values) != len(names) {
			return 0, 0, errProcFormat
		}
		var seen int
		for i, n := range names {
			var dst *float64
			switch n {
			case "InOctets":
				dst = &in
			case "OutOctets":
				dst = &out
			default:
				continue
			}
			n, err := strconv.ParseUint(values[i], 10, 64)
			if err != nil {
				return 0, 0, err
			}
			*dst = float64(n)
			seen++
		}
		if seen != 2 {
			return 0, 0, errProcFormat
		}
		return in, out, nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, errProcFormat
}
