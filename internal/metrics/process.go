package metrics

// The process's standard families, with the names, helps and types of the
// Prometheus client library's process collector.
var (
	processCPU      = newDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", TypeCounter, nil, nil, nil)
	processOpenFDs  = newDesc("process_open_fds", "Number of open file descriptors.", TypeGauge, nil, nil, nil)
	processMaxFDs   = newDesc("process_max_fds", "Maximum number of open file descriptors.", TypeGauge, nil, nil, nil)
	processVirtual  = newDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", TypeGauge, nil, nil, nil)
	processMaxVirt  = newDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", TypeGauge, nil, nil, nil)
	processResident = newDesc("process_resident_memory_bytes", "Resident memory size in bytes.", TypeGauge, nil, nil, nil)
	processStart    = newDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", TypeGauge, nil, nil, nil)
	processNetIn    = newDesc("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", TypeCounter, nil, nil, nil)
	processNetOut   = newDesc("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", TypeCounter, nil, nil, nil)
)

// processCollector exports the process's standard families, read from
// /proc at every collection. What cannot be read is left out of that
// collection (as the client library does).
type processCollector struct {
	proc string // the /proc directory of the process
	root string // /proc
}

// NewProcessCollector returns the collector of this process's CPU time,
// memory, file descriptors, start time and network bytes (Linux; on other
// systems it exports nothing).
func NewProcessCollector() Collector {
	return &processCollector{proc: "/proc/self", root: "/proc"}
}

// Describe implements Collector.
func (c *processCollector) Describe(f func(*Desc)) {
	for _, d := range []*Desc{processCPU, processOpenFDs, processMaxFDs, processVirtual, processMaxVirt, processResident, processStart, processNetIn, processNetOut} {
		f(d)
	}
}
