package metrics

import (
	"runtime"
	"runtime/debug"
	rm "runtime/metrics"
	"sync"
	"time"
)

// goMetric is one of the Go runtime's standard families (the names, helps
// and types of the Prometheus client library's Go collector, which
// dashboards and alerts for Go services query), and its value from the
// runtime's metrics.
type goMetric struct {
	desc  *Desc
	value func(s runtimeSample) float64
}

// runtimeSample is one reading of the runtime's metrics, by name.
type runtimeSample map[string]uint64

func (s runtimeSample) sum(names ...string) float64 {
	var n uint64
	for _, name := range names {
		n += s[name]
	}
	return float64(n)
}

// The runtime/metrics names the memory families are computed from, as the
// client library computes them.
const (
	rmTinyAllocs     = "/gc/heap/tiny/allocs:objects"
	rmAllocsObjects  = "/gc/heap/allocs:objects"
	rmFreesObjects   = "/gc/heap/frees:objects"
	rmAllocsBytes    = "/gc/heap/allocs:bytes"
	rmHeapObjects    = "/gc/heap/objects:objects"
	rmHeapGoal       = "/gc/heap/goal:bytes"
	rmTotal          = "/memory/classes/total:bytes"
	rmHeapObjBytes   = "/memory/classes/heap/objects:bytes"
	rmHeapUnused     = "/memory/classes/heap/unused:bytes"
	rmHeapReleased   = "/memory/classes/heap/released:bytes"
	rmHeapFree       = "/memory/classes/heap/free:bytes"
	rmHeapStacks     = "/memory/classes/heap/stacks:bytes"
	rmOSStacks       = "/memory/classes/os-stacks:bytes"
	rmMSpanInuse     = "/memory/classes/metadata/mspan/inuse:bytes"
	rmMSpanFree      = "/memory/classes/metadata/mspan/free:bytes"
	rmMCacheInuse    = "/memory/classes/metadata/mcache/inuse:bytes"
	rmMCacheFree     = "/memory/classes/metadata/mcache/free:bytes"
	rmProfBuckets    = "/memory/classes/profiling/buckets:bytes"
	rmMetadataOther  = "/memory/classes/metadata/other:bytes"
	rmOther          = "/memory/classes/other:bytes"
	rmGOGC           = "/gc/gogc:percent"
	rmGOMEMLIMIT     = "/gc/gomemlimit:bytes"
	rmGOMAXPROCS     = "/sched/gomaxprocs:threads"
	memstatsPrefix   = "go_memstats_"
	sourcedFromGOGC  = "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent."
	sourcedFromLimit = "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes."
	sourcedFromProcs = "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads."
)

func memstat(name, help string, t Type, value func(s runtimeSample) float64) goMetric {
	return goMetric{newDesc(memstatsPrefix+name, help, t, nil, nil, nil), value}
}

func gauge(name, help string, value func(s runtimeSample) float64) goMetric {
	return goMetric{newDesc(name, help, TypeGauge, nil, nil, nil), value}
}

func sum(names ...string) func(s runtimeSample) float64 {
	return func(s runtimeSample) float64 { return s.sum(names...) }
}

var goMetrics = []goMetric{
	memstat("alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", TypeGauge, sum(rmHeapObjBytes)),
	memstat("alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", TypeCounter, sum(rmAllocsBytes)),
	memstat("sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", TypeGauge, sum(rmTotal)),
	memstat("mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", TypeCounter, sum(rmAllocsObjects, rmTinyAllocs)),
	memstat("frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", TypeCounter, sum(rmFreesObjects, rmTinyAllocs)),
	memstat("heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", TypeGauge, sum(rmHeapObjBytes)),
	memstat("heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", TypeGauge, sum(rmHeapObjBytes, rmHeapUnused, rmHeapReleased, rmHeapFree)),
	memstat("heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", TypeGauge, sum(rmHeapReleased, rmHeapFree)),
	memstat("heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", TypeGauge, sum(rmHeapObjBytes, rmHeapUnused)),
	memstat("heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", TypeGauge, sum(rmHeapReleased)),
	memstat("heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", TypeGauge, sum(rmHeapObjects)),
	memstat("stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", TypeGauge, sum(rmHeapStacks)),
	memstat("stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", TypeGauge, sum(rmHeapStacks, rmOSStacks)),
	memstat("mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", TypeGauge, sum(rmMSpanInuse)),
	memstat("mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", TypeGauge, sum(rmMSpanInuse, rmMSpanFree)),
	memstat("mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", TypeGauge, sum(rmMCacheInuse)),
	memstat("mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", TypeGauge, sum(rmMCacheInuse, rmMCacheFree)),
	memstat("buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", TypeGauge, sum(rmProfBuckets)),
	memstat("gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", TypeGauge, sum(rmMetadataOther)),
	memstat("other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", TypeGauge, sum(rmOther)),
	memstat("next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", TypeGauge, sum(rmHeapGoal)),
	gauge("go_gc_gogc_percent", sourcedFromGOGC, sum(rmGOGC)),
	gauge("go_gc_gomemlimit_bytes", sourcedFromLimit, sum(rmGOMEMLIMIT)),
	gauge("go_sched_gomaxprocs_threads", sourcedFromProcs, sum(rmGOMAXPROCS)),
}

var (
	goGoroutines = newDesc("go_goroutines", "Number of goroutines that currently exist.", TypeGauge, nil, nil, nil)
	goThreads    = newDesc("go_threads", "Number of OS threads created.", TypeGauge, nil, nil, nil)
	goGCDuration = newDesc("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", TypeSummary, nil, nil, nil)
	goLastGC     = newDesc("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", TypeGauge, nil, nil, nil)
	goInfo       = newDesc("go_info", "Information about the Go environment.", TypeGauge, Labels{"version": runtime.Version()}, nil, nil)
)

// goCollector exports the Go runtime's standard families.
type goCollector struct {
	mu      sync.Mutex // samples is reused
	samples []rm.Sample
}

// NewGoCollector returns the collector of the Go runtime's standard
// families: goroutines, threads, GC pauses, go_info, go_memstats_* and the
// GOGC, GOMEMLIMIT and GOMAXPROCS settings, with the names, helps and types
// of the Prometheus client library's.
func NewGoCollector() Collector {
	c := &goCollector{}
	for _, name := range []string{rmTinyAllocs, rmAllocsObjects, rmFreesObjects, rmAllocsBytes, rmHeapObjects, rmHeapGoal,
		rmTotal, rmHeapObjBytes, rmHeapUnused, rmHeapReleased, rmHeapFree, rmHeapStacks, rmOSStacks, rmMSpanInuse,
		rmMSpanFree, rmMCacheInuse, rmMCacheFree, rmProfBuckets, rmMetadataOther, rmOther, rmGOGC, rmGOMEMLIMIT, rmGOMAXPROCS} {
		c.samples = append(c.samples, rm.Sample{Name: name})
	}
	return c
}

// Describe implements Collector.
func (c *goCollector) Describe(f func(*Desc)) {
	for _, d := range []*Desc{goGoroutines, goThreads, goGCDuration, goLastGC, goInfo} {
		f(d)
	}
	for _, m := range goMetrics {
		f(m.desc)
	}
}

// Collect implements Collector.
func (c *goCollector) Collect(f func(*Desc, Sample)) {
	f(goGoroutines, Sample{Value: float64(runtime.NumGoroutine())})
	threads, _ := runtime.ThreadCreateProfile(nil)
	f(goThreads, Sample{Value: float64(threads)})

	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	qs := make([]Quantile, len(gc.PauseQuantiles))
	for i, q := range gc.PauseQuantiles {
		qs[i] = Quantile{float64(i) / float64(len(gc.PauseQuantiles)-1), q.Seconds()}
	}
	f(goGCDuration, Sample{Count: uint64(gc.NumGC), Sum: gc.PauseTotal.Seconds(), Quantiles: qs})
	f(goLastGC, Sample{Value: float64(gc.LastGC.UnixNano()) / 1e9})
	f(goInfo, Sample{Value: 1})

	c.mu.Lock()
	rm.Read(c.samples)
	s := make(runtimeSample, len(c.samples))
	for _, v := range c.samples {
		if v.Value.Kind() == rm.KindUint64 {
			s[v.Name] = v.Value.Uint64()
		}
	}
	c.mu.Unlock()
	for _, m := range goMetrics {
		f(m.desc, Sample{Value: m.value(s)})
	}
}
