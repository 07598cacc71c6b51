package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"syscall"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Headers that identify where a mail comes from, for filtering rules.
const (
	HeaderKatalog  = "X-Orkestra-Katalog"
	HeaderTeam     = "X-Orkestra-Team"
	HeaderEventID  = "X-Orkestra-Event-Id"
	HeaderSeverity = "X-Orkestra-Severity"
)

// mailer sends one message per team over SMTP: STARTTLS required by
// default, implicit TLS, or plain only with an explicit tls: none; AUTH
// when credentials are set.
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
	msg := mail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return permanent("smtp.from %q: %v", m.cfg.From, err)
	}
	if err := msg.To(e.To...); err != nil {
		return permanent("recipients of team %s: %v", e.Team, err)
	}
	msg.Subject(e.Subject)
	msg.SetBodyString(mail.TypeTextPlain, e.Body)
	msg.SetMessageIDWithValue(e.MessageID)
	msg.SetDate()
	msg.SetUserAgent("orkestra-gateway")
	msg.SetGenHeader(HeaderKatalog, e.Katalog)
	msg.SetGenHeader(HeaderTeam, e.Team)
	msg.SetGenHeader(HeaderEventID, e.EventID)
	msg.SetGenHeader(HeaderSeverity, e.Severity)
	// Keep vacation responders and list servers from answering an alert.
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")

	c, err := m.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return smtpError(m.cfg, err)
	}
	return nil
}

// client builds a go-mail client for one delivery: secrets and the CA file
// are read now, so rotated values apply to the next message.
func (m *mailer) client() (*mail.Client, error) {
	pool, err := m.ca.Pool()
	if err != nil {
		return nil, permanent("%v", err)
	}
	tlsConf := &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: pool}
	opts := []mail.Option{mail.WithTimeout(m.timeout), mail.WithTLSConfig(tlsConf)}
	switch m.cfg.TLS {
	case "implicit":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default: // starttls
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	opts = append(opts, mail.WithPort(m.cfg.Port)) // after WithSSL, which sets 465
	if m.user != nil {
		user, err := m.user.Value()
		if err != nil {
			return nil, permanent("SMTP username: %v", err)
		}
		pass, err := m.password.Value()
		if err != nil {
			return nil, permanent("SMTP password: %v", err)
		}
		auth := mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover)
		if m.cfg.TLS == "none" {
			// Explicitly unencrypted: go-mail's discovery refuses PLAIN and
			// LOGIN there; the Katalog's tls: none is the opt-in.
			auth = mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthCramMD5, mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc)
		}
		opts = append(opts, auth, mail.WithUsername(user), mail.WithPassword(pass))
	}
	c, err := mail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return nil, permanent("SMTP client for %s:%d: %v", m.cfg.Host, m.cfg.Port, err)
	}
	return c, nil
}

// smtpError classifies a failed SMTP delivery: network errors and 4xx
// replies are retried; 5xx replies, TLS verification and configuration
// errors (no STARTTLS, no AUTH) are final.
func smtpError(cfg policy.SMTP, err error) error {
	where := fmt.Sprintf("SMTP %s:%d", cfg.Host, cfg.Port)
	msg := where + ": " + err.Error()
	var (
		tp  *textproto.Error
		se  *mail.SendError
		ne  net.Error
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return &deliveryError{Msg: msg + " (check smtp.caFile and smtp.host)"}
	case errors.As(err, &tp):
		return &deliveryError{Msg: msg, Retry: tp.Code >= 400 && tp.Code < 500}
	case errors.As(err, &se):
		return &deliveryError{Msg: msg, Retry: se.IsTemp() || se.Reason == mail.ErrConnCheck}
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.DeadlineExceeded):
		return &deliveryError{Msg: msg, Retry: true}
	}
	return &deliveryError{Msg: msg}
}
