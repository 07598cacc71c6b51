package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Headers that identify where a mail comes from, for filtering rules.
const (
	HeaderKatalog  = "X-Orkestra-Katalog"
	HeaderTeam     = "X-Orkestra-Team"
	HeaderEventID  = "X-Orkestra-Event-Id"
	HeaderSeverity = "X-Orkestra-Severity"
)

// mailer sends one message per team over SMTP (net/smtp): STARTTLS
// required by default, implicit TLS, or plain only with an explicit tls:
// none; AUTH PLAIN, LOGIN or CRAM-MD5 when credentials are set.
type mailer struct {
	cfg      policy.SMTP
	user     *secret
	password *secret
	ca       *caPool
	timeout  time.Duration // per connection
}

// email is one message to the recipients of one team.
type email struct {
	To        []string
	Subject   string
	Body      string
	MessageID string // stable per event and team, so a retry is recognisable
	Katalog   string
	Team      string
	EventID   string
	Severity  string
}

func (m *mailer) send(ctx context.Context, e *email) error {
	from, err := mail.ParseAddress(m.cfg.From)
	if err != nil {
		return permanent("smtp.from %q: %v", m.cfg.From, err)
	}
	to := make([]*mail.Address, 0, len(e.To))
	for _, a := range e.To {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return permanent("recipients of team %s: %q: %v", e.Team, a, err)
		}
		to = append(to, addr)
	}
	for _, a := range append([]*mail.Address{from}, to...) {
		if !isASCII(a.Address) {
			return permanent("address %q is not ASCII: this relay does not use SMTPUTF8", a.Address)
		}
	}
	msg := m.message(from, to, e, time.Now())

	var user, pass string
	if m.user != nil {
		if user, err = m.user.Value(); err != nil {
			return permanent("SMTP username: %v", err)
		}
		if pass, err = m.password.Value(); err != nil {
			return permanent("SMTP password: %v", err)
		}
	}
	pool, err := m.ca.Pool()
	if err != nil {
		return permanent("%v", err)
	}
	tlsConf := &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: pool}
	if err := m.deliver(ctx, tlsConf, user, pass, from.Address, to, msg); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return smtpError(m.cfg, err)
	}
	return nil
}

// errPolicy is a refusal of the relay's own rules (no STARTTLS, no usable
// AUTH mechanism): retrying cannot fix it.
type errPolicy struct{ msg string }

func (e *errPolicy) Error() string { return e.msg }

// deliver runs one SMTP session: connect (TLS from the first byte when
// implicit), EHLO, STARTTLS unless tls: none, AUTH, one MAIL FROM, a RCPT
// TO per recipient, DATA, QUIT. The whole session is bounded by the
// attempt timeout and by ctx.
func (m *mailer) deliver(ctx context.Context, tlsConf *tls.Config, user, pass, from string, to []*mail.Address, msg []byte) error {
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	dialer := &net.Dialer{Timeout: m.timeout}
	var conn net.Conn
	var err error
	if m.cfg.TLS == "implicit" {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if m.timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(m.timeout))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if m.cfg.TLS != "implicit" && m.cfg.TLS != "none" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &errPolicy{"the server does not offer STARTTLS, which tls: starttls requires (use tls: implicit for TLS from the first byte, or tls: none)"}
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return err
		}
	}
	if user != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return &errPolicy{"credentials are set but the server offers no AUTH"}
		}
		auth := chooseAuth(m.cfg.TLS, strings.Fields(strings.ToUpper(mechs)), user, pass)
		if auth == nil {
			return &errPolicy{fmt.Sprintf("the server offers AUTH %s, none of PLAIN, LOGIN or CRAM-MD5", mechs)}
		}
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return err
		}
	}
	w, err := c.Data() // dot-stuffing and CRLF line ends
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil { // the server's answer to the message
		return err
	}
	// The message is accepted: a failed QUIT must not make it sent twice.
	_ = c.Quit()
	return nil
}

// chooseAuth picks the mechanism for the credentials among those offered,
// nil when none will do. Over TLS, PLAIN (else LOGIN) is what servers
// expect; in clear text (tls: none, the Katalog's opt-in) CRAM-MD5 comes
// first, as it does not send the password itself.
func chooseAuth(tlsMode string, offered []string, user, pass string) smtp.Auth {
	prefer := []string{"PLAIN", "LOGIN", "CRAM-MD5"}
	if tlsMode == "none" {
		prefer = []string{"CRAM-MD5", "PLAIN", "LOGIN"}
	}
	for _, mech := range prefer {
		if !slices.Contains(offered, mech) {
			continue
		}
		switch mech {
		case "PLAIN":
			return &plainAuth{user: user, pass: pass}
		case "LOGIN":
			return &loginAuth{user: user, pass: pass}
		default:
			return smtp.CRAMMD5Auth(user, pass)
		}
	}
	return nil
}

// plainAuth is AUTH PLAIN (RFC 4616). Unlike net/smtp's, it does not
// refuse a connection without TLS: the relay asks for TLS unless the
// Katalog says tls: none, which is the opt-in.
type plainAuth struct{ user, pass string }

func (a *plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge to AUTH PLAIN")
	}
	return nil, nil
}

// loginAuth is AUTH LOGIN: the username, then the password, each asked for.
type loginAuth struct {
	user, pass string
	step       int
}

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected server challenge to AUTH LOGIN")
}

// message is the RFC 5322 message: headers (non-ASCII text as RFC 2047
// encoded words, folded), then the body as UTF-8 text in quoted-printable,
// so it passes any relay whatever its lines and characters.
func (m *mailer) message(from *mail.Address, to []*mail.Address, e *email, now time.Time) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name + ": " + value + "\r\n")
	}
	header("From", from.String())
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	header("To", strings.Join(rcpts, ",\r\n "))
	header("Subject", encodeHeader(e.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+headerText(e.MessageID)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("User-Agent", "orkestra-gateway")
	header(HeaderKatalog, encodeHeader(e.Katalog))
	header(HeaderTeam, encodeHeader(e.Team))
	header(HeaderEventID, encodeHeader(e.EventID))
	header(HeaderSeverity, encodeHeader(e.Severity))
	// Keep vacation responders and list servers from answering an alert.
	header("X-Auto-Response-Suppress", "All")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(e.Body, "\r\n", "\n"), "\r", "\n")
	_, _ = qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	_ = qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}

// headerText makes s one line of printable text: a value from an event
// cannot add a header or end the header block.
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// encodeHeader returns s as a header value: plain when it is ASCII (folded
// at spaces when long), else RFC 2047 encoded words, each on its own folded
// line. ASCII that a reader would take for an encoded word ("=?") is
// encoded too, so it reads as written.
func encodeHeader(s string) string {
	s = headerText(s)
	if isASCII(s) && !strings.Contains(s, "=?") {
		if len(s) <= 76 {
			return s
		}
		if longestWord(s) <= 900 {
			return foldASCII(s)
		}
	}
	return encodedWords(s)
}

// encodedWords is s as base64 encoded words of at most 45 bytes of UTF-8
// each (75 characters), never splitting a character, one per line.
func encodedWords(s string) string {
	var words []string
	for len(s) > 0 {
		n := min(45, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?UTF-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}

func longestWord(s string) int {
	longest := 0
	for _, w := range strings.Split(s, " ") {
		longest = max(longest, len(w))
	}
	return longest
}

// foldASCII folds a long ASCII value at spaces so no line exceeds 78
// characters where a space allows it.
func foldASCII(s string) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			if line+1+len(w) > 76 {
				b.WriteString("\r\n")
				line = 0
			}
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// smtpError classifies a failed SMTP delivery: network errors and 4xx
// replies are retried; 5xx replies, TLS verification and the relay's own
// policy (no STARTTLS, no usable AUTH) are final.
func smtpError(cfg policy.SMTP, err error) error {
	where := fmt.Sprintf("SMTP %s:%d", cfg.Host, cfg.Port)
	msg := where + ": " + err.Error()
	var (
		tp  *textproto.Error
		pe  *errPolicy
		ne  net.Error
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return &deliveryError{Msg: msg + " (check smtp.caFile and smtp.host)"}
	case errors.As(err, &pe):
		return &deliveryError{Msg: msg}
	case errors.As(err, &tp):
		return &deliveryError{Msg: msg, Retry: tp.Code >= 400 && tp.Code < 500}
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, context.DeadlineExceeded):
		return &deliveryError{Msg: msg, Retry: true}
	}
	return &deliveryError{Msg: msg}
}
