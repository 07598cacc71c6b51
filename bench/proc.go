package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ParseStatusRSS reads the resident set size, in bytes, from the text of
// /proc/PID/status (the "VmRSS:   1234 kB" line).
func ParseStatusRSS(status []byte) (int64, error) {
	return statusKB(status, "VmRSS")
}

// statusKB reads a "Key:   N kB" line of /proc/PID/status or /proc/meminfo.
func statusKB(text []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%s: want \"N kB\", got %q", key, strings.TrimSpace(rest))
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, fmt.Errorf("%s: bad size %q", key, fields[0])
		}
		return n << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line", key)
}

// RSS is the resident set size of process pid in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseStatusRSS(b)
}

// Sampler records the RSS of a process at a fixed interval until stopped.
type Sampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	mib  []float64
}

// SampleRSS starts sampling pid every interval.
func SampleRSS(pid int, interval time.Duration) *Sampler {
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, err := RSS(pid); err == nil {
				s.mu.Lock()
				s.mib = append(s.mib, MiB(n))
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the samples' median and maximum in MiB.
func (s *Sampler) Stop() Memory {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mib) == 0 {
		return Memory{}
	}
	sp := SpreadOf(s.mib)
	return Memory{Samples: len(s.mib), MedianMiB: Round(sp.Median, 1), MaxMiB: Round(slices.Max(s.mib), 1)}
}

// Memory is RSS sampled over a phase.
type Memory struct {
	Samples   int     `json:"samples"`
	MedianMiB float64 `json:"medianMiB"`
	MaxMiB    float64 `json:"maxMiB"`
}

// MiB converts bytes to mebibytes.
func MiB(n int64) float64 { return Round(float64(n)/(1<<20), 1) }

// Machine describes where the figures were measured.
type Machine struct {
	CPU        string  `json:"cpu"`
	Cores      int     `json:"cores"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	MemoryGiB  float64 `json:"memoryGiB"`
	Kernel     string  `json:"kernel"`
	OS         string  `json:"os"`
	Go         string  `json:"go"`
	APIServer  string  `json:"kubeAPIServer,omitempty"`
	// LoadStart and LoadEnd are /proc/loadavg's 1, 5 and 15 minute load
	// averages when the run began and ended: other work on the machine
	// shows there.
	LoadStart string `json:"loadAverageStart,omitempty"`
	LoadEnd   string `json:"loadAverageEnd,omitempty"`
}

// LoadAverage returns the 1, 5 and 15 minute load averages, "" if unknown.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// ThisMachine reads the machine's details from /proc.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = ParseCPUModel(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if n, err := statusKB(b, "MemTotal"); err == nil {
			m.MemoryGiB = Round(float64(n)/(1<<30), 1)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadStart = LoadAverage()
	return m
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo, "" if none.
func ParseCPUModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}
