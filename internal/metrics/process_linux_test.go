package metrics

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

const (
	fixtureStat = "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 150 0 0 20 0 9 0 12345 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	fixtureProc = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"
	fixtureLim  = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 1048576              files
Max address space         unlimited            unlimited            bytes
`
	fixtureNet = `TcpExt: SyncookiesSent SyncookiesRecv
TcpExt: 0 0
IpExt: InNoRoutes InOctets OutOctets
IpExt: 0 1000 2000
`
)

// procDir writes the files the process collector reads into a directory
// of their own and returns a collector reading them.
func procDir(t testing.TB, dir, stat, procStat, limits, netstat string, fds int) *processCollector {
	t.Helper()
	for path, content := range map[string]string{"self/stat": stat, "stat": procStat, "self/limits": limits, "self/net/netstat": netstat} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fd := filepath.Join(dir, "self", "fd")
	if err := os.MkdirAll(fd, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range fds {
		if err := os.WriteFile(filepath.Join(fd, string(rune('0'+i))), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &processCollector{proc: filepath.Join(dir, "self"), root: dir}
}

func collected(c Collector) map[string]float64 {
	out := map[string]float64{}
	c.Collect(func(d *Desc, s Sample) { out[d.Name] = s.Value })
	return out
}

// The figures are read as the kernel writes them: a command holding
// parentheses and spaces, CPU time in clock ticks, RSS in pages,
// "unlimited" limits, the namespace's IP octets.
func TestProcessCollectorReadsProc(t *testing.T) {
	c := procDir(t, t.TempDir(), fixtureStat, fixtureProc, fixtureLim, fixtureNet, 3)
	got := collected(c)
	want := map[string]float64{
		"process_cpu_seconds_total":            4, // (250 + 150) / 100
		"process_virtual_memory_bytes":         987654321,
		"process_resident_memory_bytes":        2048 * float64(os.Getpagesize()),
		"process_start_time_seconds":           1700000000 + 123.45,
		"process_open_fds":                     3,
		"process_max_fds":                      1024,
		"process_virtual_memory_max_bytes":     math.MaxUint64,
		"process_network_receive_bytes_total":  1000,
		"process_network_transmit_bytes_total": 2000,
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("collected %v", got)
	}

	// What cannot be read is left out of the collection, the rest is not.
	c = procDir(t, t.TempDir(), "4242 (a) S 1 2\n", fixtureProc, "Max open files x\n", "IpExt: InOctets OutOctets\nIpExt: -1 2\n", 1)
	if got := collected(c); len(got) != 1 || got["process_open_fds"] != 1 {
		t.Errorf("from malformed files: %v, want process_open_fds only", got)
	}
}

// Whatever the files hold, the collector never panics and exports only
// finite, non-negative figures.
func FuzzProcessFiles(f *testing.F) {
	f.Add(fixtureStat, fixtureProc, fixtureLim, fixtureNet)
	f.Add("1 ()) R\n", "btime\n", "Max open files\nMax address space 1 2 3\n", "IpExt:\nIpExt:\n")
	f.Add("1 (x) R 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "btime -5", "Max open files 1e3 1 files\nMax address space NaN 1 b\n", "IpExt: InOctets OutOctets\nIpExt: NaN +Inf\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, stat, procStat, limits, netstat string) {
		c := procDir(t, dir, stat, procStat, limits, netstat, 0)
		for name, v := range collected(c) {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("%s = %v", name, v)
			}
		}
	})
}
