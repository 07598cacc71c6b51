package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// mailpitEnv names the variable holding the mailpit binary (the output of
// hack/mailpit.sh; `make test` sets it).
const mailpitEnv = "ORK_MAILPIT"

// Mailpit TLS modes, as in notification.email.smtp.tls.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "implicit"
	TLSNone     = "none"
)

// MailpitOptions configure a mailpit run.
type MailpitOptions struct {
	// TLS is starttls (default: STARTTLS offered and required), implicit
	// (TLS from the first byte) or none.
	TLS string
	// User and Password, when set, are the only accepted SMTP credentials
	// (AUTH required). Without them any client may send.
	User, Password string
}

// Mailpit is a running mailpit: a real SMTP server whose received mail is
// read through its HTTP API.
type Mailpit struct {
	Host     string // 127.0.0.1
	SMTPPort int
	HTTPPort int
	// CAFile holds the self-signed certificate mailpit serves (valid for
	// 127.0.0.1 and localhost), for smtp.caFile; empty with TLS none.
	CAFile string
	CAPEM  []byte

	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

// StartMailpit starts mailpit on loopback ports and stops it at cleanup.
// The test fails (it does not skip) when ORK_MAILPIT is unset: a missing
// SMTP server must not look like a green run.
func StartMailpit(t testing.TB, o MailpitOptions) *Mailpit {
	t.Helper()
	bin := os.Getenv(mailpitEnv)
	if bin == "" {
		t.Fatalf("%s is not set: run `make test`, or `export %s=$(bash hack/mailpit.sh)` before `go test`", mailpitEnv, mailpitEnv)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v (run `bash hack/mailpit.sh` to build it)", mailpitEnv, bin, err)
	}
	if o.TLS == "" {
		o.TLS = TLSStartTLS
	}
	dir := t.TempDir()
	m := &Mailpit{Host: "127.0.0.1", SMTPPort: freePort(t), HTTPPort: freePort(t), out: &testenv.Buffer{}, done: make(chan struct{})}
	args := []string{
		"--smtp", net.JoinHostPort(m.Host, strconv.Itoa(m.SMTPPort)),
		"--listen", net.JoinHostPort(m.Host, strconv.Itoa(m.HTTPPort)),
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns",
	}
	switch o.TLS {
	case TLSStartTLS, TLSImplicit:
		certPEM, keyPEM := selfSigned(t)
		m.CAPEM = certPEM
		m.CAFile = filepath.Join(dir, "smtp.crt")
		keyFile := filepath.Join(dir, "smtp.key")
		write(t, m.CAFile, certPEM)
		write(t, keyFile, keyPEM)
		args = append(args, "--smtp-tls-cert", m.CAFile, "--smtp-tls-key", keyFile)
		if o.TLS == TLSStartTLS {
			args = append(args, "--smtp-require-starttls")
		} else {
			args = append(args, "--smtp-require-tls")
		}
	case TLSNone:
		if o.User != "" {
			args = append(args, "--smtp-auth-allow-insecure")
		}
	default:
		t.Fatalf("mailpit: unknown TLS mode %q", o.TLS)
	}
	if o.User != "" {
		// htpasswd with {SHA}: mailpit accepts only these credentials.
		sum := sha1.Sum([]byte(o.Password))
		authFile := filepath.Join(dir, "smtp-auth")
		write(t, authFile, []byte(o.User+":{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n"))
		args = append(args, "--smtp-auth-file", authFile)
	}

	m.cmd = exec.Command(bin, args...)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting mailpit: %v", err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
		if t.Failed() {
			t.Logf("mailpit output:\n%s", m.out.String())
		}
	})
	if err := m.waitReady(20 * time.Second); err != nil {
		t.Fatalf("mailpit not ready: %v\n%s", err, m.out.String())
	}
	return m
}

func (m *Mailpit) api() string { return "http://" + net.JoinHostPort(m.Host, strconv.Itoa(m.HTTPPort)) }

func (m *Mailpit) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := http.Client{Timeout: time.Second}
	for {
		select {
		case <-m.done:
			return fmt.Errorf("mailpit exited")
		default:
		}
		resp, err := c.Get(m.api() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				conn, err := net.DialTimeout("tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.SMTPPort)), time.Second)
				if err == nil {
					conn.Close()
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s/readyz after %s", m.api(), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Address is a mail address as mailpit reports it.
type Address struct{ Name, Address string }

// Message is one received mail.
type Message struct {
	ID        string
	MessageID string
	From      *Address
	To        []*Address
	Subject   string
	Text      string
	Username  string // the SMTP AUTH user, "" without AUTH
	Headers   map[string][]string
}

// Messages returns every message received, newest first.
func (m *Mailpit) Messages() ([]Message, error) {
	var list struct {
		Messages []struct{ ID string }
	}
	if err := m.get("/api/v1/messages?limit=1000", &list); err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(list.Messages))
	for _, s := range list.Messages {
		var msg Message
		if err := m.get("/api/v1/message/"+s.ID, &msg); err != nil {
			return nil, err
		}
		if err := m.get("/api/v1/message/"+s.ID+"/headers", &msg.Headers); err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, nil
}

// WaitMessages waits until at least n messages arrived and returns them.
func (m *Mailpit) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := m.Messages()
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d of %d messages after %s (err %v)\n%s", len(msgs), n, timeout, err, m.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Raw returns the message with mailpit's ID as it was received (headers
// and body as sent, after SMTP's dot-unstuffing).
func (m *Mailpit) Raw(id string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(m.api() + "/api/v1/message/" + id + "/raw")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("mailpit GET raw %s: %s", id, resp.Status)
	}
	return string(b), err
}

func (m *Mailpit) get(path string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(m.api() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// selfSigned returns a self-signed CA certificate that is also the server
// certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mailpit test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
