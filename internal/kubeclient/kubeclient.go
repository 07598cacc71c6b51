// Package kubeclient builds the gateway's in-cluster API clients: TLS from
// the service account's CA file, a bearer token re-read from the projected
// token file (the kubelet rotates it), a user agent and a request budget per
// client, handed to client-go's dynamic client. It never builds client-go's
// own transport, so the credential machinery behind it (client-certificate
// rotation and its workqueue, exec plugins, HTTP/2 tuning of x/net) is not
// linked into the gateway.
package kubeclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/pod"
)

// The service account's files in every pod.
const (
	TokenFile = pod.ServiceAccountDir + "/token"
	CAFile    = pod.ServiceAccountDir + "/ca.crt"
)

// ErrNotInCluster is returned by InCluster outside a pod.
var ErrNotInCluster = errors.New("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")

// Cluster is the API server as the pod sees it. Every client made from one
// Cluster shares its token source (one file, re-read for all) but nothing
// else: each has its own connections and request budget.
type Cluster struct {
	host   string // https://host:port
	pool   *x509.CertPool
	tokens *tokenSource
}

// InCluster reads the pod's view of the API server: KUBERNETES_SERVICE_HOST
// and KUBERNETES_SERVICE_PORT, the CA file and the token file.
func InCluster() (*Cluster, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, ErrNotInCluster
	}
	return New("https://"+net.JoinHostPort(host, port), CAFile, TokenFile)
}

// New returns the cluster at host (https://host:port) whose serving
// certificate caFile signs, authenticating with the token in tokenFile. The
// CA must parse and the token must be readable now: a pod whose mounts are
// broken fails at start-up, not at its first request.
func New(host, caFile, tokenFile string) (*Cluster, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("API server CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("API server CA %s: no PEM certificate in it", caFile)
	}
	tokens := newTokenSource(tokenFile, time.Now)
	if _, err := tokens.token(); err != nil {
		return nil, err
	}
	return &Cluster{host: host, pool: pool, tokens: tokens}, nil
}

// Host is the API server's URL.
func (c *Cluster) Host() string { return c.host }

// Options of one client.
type Options struct {
	// UserAgent names the client in the API server's logs and audit events.
	UserAgent string
	// QPS and Burst are the client's own budget of requests (client-go's
	// token bucket); both must be positive.
	QPS   float32
	Burst int
	// Timeout bounds each request, 0 for none (the caller's context still does).
	Timeout time.Duration
}

// Dynamic returns a dynamic client with its own connections and budget.
func (c *Cluster) Dynamic(o Options) (dynamic.Interface, error) {
	if o.QPS <= 0 || o.Burst <= 0 {
		return nil, fmt.Errorf("client %q: QPS %v and burst %d must be positive", o.UserAgent, o.QPS, o.Burst)
	}
	return dynamic.NewForConfigAndClient(c.Config(o), c.HTTPClient(o))
}

// Config is the rest.Config of a client with options o, to be used only
// with HTTPClient(o) (rest.RESTClientForConfigAndClient and the like): on
// its own it has no credentials, and client-go would build its own
// transport from it.
func (c *Cluster) Config(o Options) *rest.Config {
	return &rest.Config{Host: c.host, UserAgent: o.UserAgent, QPS: o.QPS, Burst: o.Burst, Timeout: o.Timeout}
}

// HTTPClient returns the HTTP client Dynamic uses: TLS 1.2 or later to the
// API server with its CA, the bearer token and user agent on every request.
func (c *Cluster) HTTPClient(o Options) *http.Client {
	// client-go's defaults for API clients (SetTransportDefaults), with the
	// standard library's HTTP/2 and its connection health check.
	base := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 25,
		ForceAttemptHTTP2:   true,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}
	return &http.Client{
		Transport: &authTransport{base: base, tokens: c.tokens, userAgent: o.UserAgent},
		Timeout:   o.Timeout,
	}
}
