package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/orkspace/orkestra-gateway/bench"
	"github.com/orkspace/orkestra-gateway/internal/certs"
)

// loadTLS reads the gateway's TLS Secret data from dir (one file per key)
// and returns the TLS configuration the gateway builds from it.
func loadTLS(dir string) (*certs.Holder, error) {
	data := map[string][]byte{}
	for _, k := range []string{certs.KeyCert, certs.KeyKey, certs.KeyCA, certs.KeyCAKey} {
		b, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			return nil, err
		}
		data[k] = b
	}
	m, err := certs.Parse(data)
	if err != nil {
		return nil, err
	}
	return certs.NewHolder(m)
}

// floorMain is `bench floor`: the floor webhook server, with the gateway's
// certificate, TLS configuration and listener settings.
func floorMain(args []string) int {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	dir := fs.String("tls-dir", "", "directory with the gateway's tls.crt, tls.key, ca.crt, ca.key")
	port := fs.Int("port", 0, "port on 127.0.0.1")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	holder, err := loadTLS(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench floor:", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench floor:", err)
		return 1
	}
	srv := bench.WebhookServer(bench.FloorMux(), holder.TLSConfig(), slog.New(slog.DiscardHandler))
	fmt.Println("ready")
	err = srv.ServeTLS(ln, "", "")
	fmt.Fprintln(os.Stderr, "bench floor:", err)
	return 1
}
