package server

import (
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Profiling. net/http/pprof would add about 400 KB to the binary (its
// symbolizer, trace and HTML index); these handlers serve the same profile
// formats from runtime/pprof for about a quarter of that, which `go tool
// pprof http://ADDR/debug/pprof/NAME` reads as it reads net/http/pprof's.

// maxProfileSeconds bounds a CPU profile request.
const maxProfileSeconds = 300

// startPprof serves runtime profiles on their own listener when
// --pprof-address is set, so no profile endpoint shares the probe or
// webhook ports. The returned function closes it.
func (g *Gateway) startPprof() (func(), error) {
	if g.cfg.PprofAddress == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", g.cfg.PprofAddress)
	if err != nil {
		return nil, fmt.Errorf("pprof address: %w", err)
	}
	// No write timeout: a CPU profile streams for ?seconds=N.
	srv := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	g.log.Warn("serving profiles", "address", ln.Addr().String(), "remoteAllowed", g.cfg.PprofAllowRemote)
	return func() { _ = srv.Close() }, nil
}

// pprofHandler serves /debug/pprof/profile (CPU, ?seconds=N, default 30)
// and /debug/pprof/NAME for every runtime profile (heap, allocs,
// goroutine, block, mutex, threadcreate; ?debug=1 or 2 for text), and an
// index of them at /debug/pprof/.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", cpuProfile)
	mux.HandleFunc("GET /debug/pprof/{name}", namedProfile)
	mux.HandleFunc("GET /debug/pprof/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "profile?seconds=N (CPU, default 30)")
		for _, p := range pprof.Profiles() {
			fmt.Fprintf(w, "%s (%d)\n", p.Name(), p.Count())
		}
	})
	return mux
}

func cpuProfile(w http.ResponseWriter, r *http.Request) {
	sec := 30
	if s := r.URL.Query().Get("seconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxProfileSeconds {
			http.Error(w, fmt.Sprintf("seconds=%q: want 1..%d", s, maxProfileSeconds), http.StatusBadRequest)
			return
		}
		sec = n
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
	if err := pprof.StartCPUProfile(w); err != nil {
		// Another profile is running: the runtime allows one at a time.
		w.Header().Del("Content-Disposition")
		http.Error(w, "cannot start a CPU profile: "+err.Error(), http.StatusConflict)
		return
	}
	select {
	case <-time.After(time.Duration(sec) * time.Second):
	case <-r.Context().Done():
	}
	pprof.StopCPUProfile()
}

func namedProfile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := pprof.Lookup(name)
	if p == nil {
		http.Error(w, fmt.Sprintf("unknown profile %q", name), http.StatusNotFound)
		return
	}
	debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
	if debug < 0 || debug > 2 {
		http.Error(w, "debug: want 0, 1 or 2", http.StatusBadRequest)
		return
	}
	if name == "heap" && r.URL.Query().Get("gc") != "" {
		runtime.GC()
	}
	if debug == 0 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(name, `"`, "")+`"`)
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	_ = p.WriteTo(w, debug)
}
