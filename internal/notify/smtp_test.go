package notify

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// scriptedSMTP is an SMTP server whose answers a test chooses, for what
// mailpit cannot be made to do: offer only some AUTH mechanisms, refuse a
// recipient or a message with a given code.
type scriptedSMTP struct {
	port int
	ehlo []string          // the EHLO extensions offered
	fail map[string]string // command verb (MAIL, RCPT, DATA, END) -> reply
	mu   sync.Mutex
	log  []string // commands received, AUTH exchanges decoded
	data []string // messages received
}

func startScriptedSMTP(t *testing.T, ehlo []string, fail map[string]string) *scriptedSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &scriptedSMTP{port: ln.Addr().(*net.TCPAddr).Port, ehlo: ehlo, fail: fail}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *scriptedSMTP) record(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, line)
}

func (s *scriptedSMTP) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *scriptedSMTP) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	reply := func(lines ...string) { _ = tp.PrintfLine("%s", strings.Join(lines, "\r\n")) }
	decoded := func() string {
		l, _ := tp.ReadLine()
		b, _ := base64.StdEncoding.DecodeString(l)
		return string(b)
	}
	reply("220 scripted ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		s.record(line)
		if r, ok := s.fail[verb]; ok {
			reply(r)
			continue
		}
		switch verb {
		case "EHLO":
			lines := []string{"250-scripted"}
			for i, e := range s.ehlo {
				sep := "-"
				if i == len(s.ehlo)-1 {
					sep = " "
				}
				lines = append(lines, "250"+sep+e)
			}
			if len(s.ehlo) == 0 {
				lines = []string{"250 scripted"}
			}
			reply(lines...)
		case "AUTH":
			switch f := strings.Fields(line); strings.ToUpper(f[1]) {
			case "LOGIN":
				reply("334 " + base64.StdEncoding.EncodeToString([]byte("Username:")))
				user := decoded()
				reply("334 " + base64.StdEncoding.EncodeToString([]byte("Password:")))
				s.record("LOGIN " + user + " " + decoded())
				reply("235 2.7.0 authenticated")
			case "PLAIN":
				b, _ := base64.StdEncoding.DecodeString(f[2])
				s.record("PLAIN " + strings.ReplaceAll(string(b), "\x00", "|"))
				reply("235 2.7.0 authenticated")
			case "CRAM-MD5":
				const challenge = "<1896.697170952@scripted>"
				reply("334 " + base64.StdEncoding.EncodeToString([]byte(challenge)))
				answer := decoded()
				mac := hmac.New(md5.New, []byte("pa:ss word"))
				mac.Write([]byte(challenge))
				if answer != "relay "+hex.EncodeToString(mac.Sum(nil)) {
					reply("535 5.7.8 bad CRAM-MD5 answer")
					continue
				}
				s.record("CRAM-MD5 relay")
				reply("235 2.7.0 authenticated")
			default:
				reply("504 unsupported")
			}
		case "DATA":
			reply("354 go ahead")
			lines, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.data = append(s.data, strings.Join(lines, "\n"))
			s.mu.Unlock()
			if r, ok := s.fail["END"]; ok {
				reply(r)
				continue
			}
			reply("250 2.0.0 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 ok")
		}
	}
}

func scriptedMailer(t *testing.T, s *scriptedSMTP, withAuth bool) *mailer {
	m := &mailer{
		cfg:     policy.SMTP{Host: "127.0.0.1", Port: s.port, TLS: "none", From: "Orkestra <orkestra@example.com>"},
		ca:      &caPool{},
		timeout: 5 * time.Second,
	}
	if withAuth {
		env := map[string]string{"U": "relay", "P": "pa:ss word"}
		getenv := func(k string) string { return env[k] }
		m.user = newSecret(&policy.SecretRef{Env: "U"}, getenv)
		m.password = newSecret(&policy.SecretRef{Env: "P"}, getenv)
	}
	return m
}

var testEmail = &email{
	To:      []string{"ops@example.com", "Dev Team <dev@example.com>"},
	Subject: "s", Body: "b", MessageID: "id@orkestra-gateway", Team: "platform",
}

func TestSMTPAuthMechanisms(t *testing.T) {
	t.Run("LOGIN when it is all the server offers", func(t *testing.T) {
		s := startScriptedSMTP(t, []string{"AUTH LOGIN"}, nil)
		if err := scriptedMailer(t, s, true).send(context.Background(), testEmail); err != nil {
			t.Fatal(err)
		}
		if cmds := strings.Join(s.commands(), "\n"); !strings.Contains(cmds, "LOGIN relay pa:ss word") {
			t.Errorf("no AUTH LOGIN with the credentials:\n%s", cmds)
		}
	})
	t.Run("PLAIN before LOGIN", func(t *testing.T) {
		s := startScriptedSMTP(t, []string{"AUTH LOGIN PLAIN"}, nil)
		if err := scriptedMailer(t, s, true).send(context.Background(), testEmail); err != nil {
			t.Fatal(err)
		}
		if cmds := strings.Join(s.commands(), "\n"); !strings.Contains(cmds, "PLAIN |relay|pa:ss word") {
			t.Errorf("no AUTH PLAIN with the credentials:\n%s", cmds)
		}
	})
	t.Run("CRAM-MD5 when it is all the server offers", func(t *testing.T) {
		s := startScriptedSMTP(t, []string{"AUTH CRAM-MD5"}, nil)
		if err := scriptedMailer(t, s, true).send(context.Background(), testEmail); err != nil {
			t.Fatal(err)
		}
		if cmds := strings.Join(s.commands(), "\n"); !strings.Contains(cmds, "CRAM-MD5 relay") {
			t.Errorf("no AUTH CRAM-MD5:\n%s", cmds)
		}
	})
	// In clear text (tls: none) the password itself is not sent when the
	// server can take CRAM-MD5.
	t.Run("CRAM-MD5 preferred in clear text", func(t *testing.T) {
		s := startScriptedSMTP(t, []string{"AUTH PLAIN LOGIN CRAM-MD5"}, nil)
		if err := scriptedMailer(t, s, true).send(context.Background(), testEmail); err != nil {
			t.Fatal(err)
		}
		if cmds := strings.Join(s.commands(), "\n"); !strings.Contains(cmds, "CRAM-MD5 relay") || strings.Contains(cmds, "pa:ss word") {
			t.Errorf("AUTH in clear text:\n%s", cmds)
		}
	})
	t.Run("no AUTH without credentials", func(t *testing.T) {
		s := startScriptedSMTP(t, []string{"AUTH PLAIN"}, nil)
		if err := scriptedMailer(t, s, false).send(context.Background(), testEmail); err != nil {
			t.Fatal(err)
		}
		for _, c := range s.commands() {
			if strings.HasPrefix(c, "AUTH") {
				t.Errorf("sent %q", c)
			}
		}
	})
	// Credentials the server cannot take are a configuration error: final,
	// and nothing is sent.
	for name, ehlo := range map[string][]string{"only SCRAM": {"AUTH SCRAM-SHA-256"}, "no AUTH": nil} {
		t.Run(name, func(t *testing.T) {
			s := startScriptedSMTP(t, ehlo, nil)
			err := scriptedMailer(t, s, true).send(context.Background(), testEmail)
			if retry, _ := retryable(err); err == nil || retry || !strings.Contains(err.Error(), "AUTH") {
				t.Errorf("err = %v (retry %v), want a final error about AUTH", err, retry)
			}
			for _, c := range s.commands() {
				if strings.HasPrefix(c, "MAIL") {
					t.Errorf("sent %q", c)
				}
			}
		})
	}
}

// Over TLS the password goes in PLAIN (else LOGIN, else CRAM-MD5); in
// clear text CRAM-MD5 comes first.
func TestChooseAuth(t *testing.T) {
	for _, c := range []struct {
		tls, offered, want string
	}{
		{"starttls", "CRAM-MD5 LOGIN PLAIN", "PLAIN"},
		{"implicit", "CRAM-MD5 LOGIN", "LOGIN"},
		{"starttls", "CRAM-MD5 SCRAM-SHA-256", "CRAM-MD5"},
		{"none", "PLAIN LOGIN CRAM-MD5", "CRAM-MD5"},
		{"none", "LOGIN PLAIN", "PLAIN"},
		{"starttls", "SCRAM-SHA-256 XOAUTH2", ""},
		{"starttls", "", ""},
	} {
		a := chooseAuth(c.tls, strings.Fields(c.offered), "u", "p")
		got := ""
		if a != nil {
			got, _, _ = a.Start(&smtp.ServerInfo{Name: "127.0.0.1", TLS: true, Auth: strings.Fields(c.offered)})
		}
		if got != c.want {
			t.Errorf("tls %s, offered %q: %q, want %q", c.tls, c.offered, got, c.want)
		}
	}
}

// One session per team: one MAIL FROM, a RCPT TO per recipient (bare
// addresses), one DATA.
func TestSMTPOneMessagePerTeam(t *testing.T) {
	s := startScriptedSMTP(t, nil, nil)
	if err := scriptedMailer(t, s, false).send(context.Background(), testEmail); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range s.commands() {
		if v := strings.Fields(c)[0]; v == "MAIL" || v == "RCPT" || v == "DATA" {
			got = append(got, c)
		}
	}
	want := []string{"MAIL FROM:<orkestra@example.com>", "RCPT TO:<ops@example.com>", "RCPT TO:<dev@example.com>", "DATA"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(s.data) != 1 || !strings.Contains(s.data[0], "To: <ops@example.com>,\n \"Dev Team\" <dev@example.com>\n") {
		t.Errorf("messages %q", s.data)
	}
}

// 4xx replies are retried, 5xx replies are final, at every step.
func TestSMTPReplyCodes(t *testing.T) {
	for _, c := range []struct {
		verb, reply string
		retry       bool
	}{
		{"MAIL", "451 4.3.0 try later", true},
		{"RCPT", "550 5.1.1 no such user", false},
		{"RCPT", "452 4.5.3 too many recipients", true},
		{"DATA", "554 5.5.1 no valid recipients", false},
		{"END", "552 5.3.4 message too big", false},
		{"END", "421 4.3.2 shutting down", true},
	} {
		t.Run(c.verb+" "+c.reply[:3], func(t *testing.T) {
			s := startScriptedSMTP(t, nil, map[string]string{c.verb: c.reply})
			err := scriptedMailer(t, s, false).send(context.Background(), testEmail)
			retry, _ := retryable(err)
			if err == nil || retry != c.retry || !strings.Contains(err.Error(), c.reply[:3]) {
				t.Errorf("%s answered %q: err %v, retry %v; want retry %v", c.verb, c.reply, err, retry, c.retry)
			}
		})
	}
}

// The message's own lines: a body line "." or ".x" is sent dot-stuffed, so
// the server reads it back unchanged and the message does not end early.
func TestSMTPDotStuffing(t *testing.T) {
	s := startScriptedSMTP(t, nil, nil)
	e := *testEmail
	e.Body = "before\n.\n.hidden\nafter"
	if err := scriptedMailer(t, s, false).send(context.Background(), &e); err != nil {
		t.Fatal(err)
	}
	if len(s.data) != 1 {
		t.Fatalf("%d messages", len(s.data))
	}
	_, body, _ := strings.Cut(s.data[0], "\n\n")
	if body != "before\n.\n.hidden\nafter\n" && body != "before\n.\n.hidden\nafter" {
		t.Errorf("body %q", body)
	}
	if strings.Contains(strings.Join(s.commands(), "\n"), ".hidden") {
		t.Error("a body line was read as a command")
	}
}

// A header value from event text: one logical line (folds are CRLF then a
// space), 7-bit, lines of at most 998 characters, and decoding the encoded
// words gives back the text with control characters as spaces.
func FuzzEncodeHeader(f *testing.F) {
	for _, s := range []string{"", "plain", "Größe ✓", "a\r\nBcc: x@example.com", strings.Repeat("word ", 40), "=?UTF-8?q?x?=", "\xff\xfe", strings.Repeat("ü", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := encodeHeader(s)
		for i, line := range strings.Split(v, "\r\n") {
			if i > 0 && !strings.HasPrefix(line, " ") {
				t.Fatalf("%q: line %d of %q is not a fold", s, i, v)
			}
			if len(line) > 998 {
				t.Fatalf("%q: a line of %d characters", s, len(line))
			}
			for _, c := range []byte(line) {
				if c >= 0x80 || c == '\r' || c == '\n' || c == 0 {
					t.Fatalf("%q: byte %#x in %q", s, c, v)
				}
			}
		}
		got, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(v, "\r\n", ""))
		if err != nil {
			t.Fatalf("%q: %q does not decode: %v", s, v, err)
		}
		if want := headerText(s); got != want {
			t.Fatalf("%q: decodes to %q, want %q", s, got, want)
		}
	})
}
