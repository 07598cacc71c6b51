package main

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
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// mailpit is a running mailpit: a real SMTP server (STARTTLS required, AUTH
// required) whose mail is read through its HTTP API and web UI.
type mailpit struct {
	SMTPPort int
	HTTPPort int
	CAFile   string // its self-signed certificate, for smtp.caFile
	User     string
	Password string

	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startMailpit runs bin on loopback with its files in dir.
func startMailpit(bin, dir string) (*mailpit, error) {
	m := &mailpit{User: "demo", Password: randomString(12), done: make(chan struct{}), log: filepath.Join(dir, "mailpit.log")}
	var err error
	if m.SMTPPort, err = freePort(); err != nil {
		return nil, err
	}
	if m.HTTPPort, err = freePort(); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	m.CAFile = filepath.Join(dir, "smtp.crt")
	keyFile := filepath.Join(dir, "smtp.key")
	// htpasswd with {SHA}: mailpit accepts only these credentials.
	sum := sha1.Sum([]byte(m.Password))
	authFile := filepath.Join(dir, "smtp-auth")
	for name, b := range map[string][]byte{
		m.CAFile: certPEM, keyFile: keyPEM,
		authFile: []byte(m.User + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"),
	} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return nil, err
		}
	}
	out, err := os.Create(m.log)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own descriptor
	m.cmd = exec.Command(bin,
		"--smtp", net.JoinHostPort("127.0.0.1", strconv.Itoa(m.SMTPPort)),
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(m.HTTPPort)),
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns",
		"--smtp-tls-cert", m.CAFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls",
		"--smtp-auth-file", authFile,
	)
	m.cmd.Stdout, m.cmd.Stderr = out, out
	// Own process group (a Ctrl-C reaches the demo, which stops everything
	// in order); killed by the kernel if the demo dies first.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting mailpit %s: %w", bin, err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	if err := m.waitReady(20 * time.Second); err != nil {
		m.stop()
		b, _ := os.ReadFile(m.log)
		return nil, fmt.Errorf("mailpit not ready: %w\n%s", err, b)
	}
	return m, nil
}

// UI is mailpit's web interface, where the received mail can be read.
func (m *mailpit) UI() string { return "http://127.0.0.1:" + strconv.Itoa(m.HTTPPort) }

func (m *mailpit) stop() {
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.done
}

func (m *mailpit) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := http.Client{Timeout: time.Second}
	for {
		select {
		case <-m.done:
			return fmt.Errorf("mailpit exited")
		default:
		}
		if resp, err := c.Get(m.UI() + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(m.SMTPPort)), time.Second); err == nil {
					conn.Close()
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s/readyz after %s", m.UI(), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mail is one received message as mailpit reports it.
type mail struct {
	ID      string
	From    struct{ Address string }
	To      []struct{ Address string }
	Subject string
	Text    string
	// Username is the SMTP AUTH user the gateway logged in with.
	Username string
	Headers  map[string][]string
}

// waitMail waits for the first message and returns it with its headers.
func (m *mailpit) waitMail(timeout time.Duration) (*mail, error) {
	deadline := time.Now().Add(timeout)
	for {
		var list struct {
			Messages []struct{ ID string }
		}
		err := m.get("/api/v1/messages?limit=10", &list)
		if err == nil && len(list.Messages) > 0 {
			id := list.Messages[len(list.Messages)-1].ID // oldest
			var msg mail
			if err := m.get("/api/v1/message/"+id, &msg); err != nil {
				return nil, err
			}
			if err := m.get("/api/v1/message/"+id+"/headers", &msg.Headers); err != nil {
				return nil, err
			}
			return &msg, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no mail in mailpit after %s (last error: %v)", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *mailpit) get(path string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(m.UI() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// selfSigned returns a self-signed certificate for 127.0.0.1 and localhost
// that is its own CA.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "orkestra demo mailpit"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
