package providertest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP test credentials.
const (
	SMTPUsername = "latchkey"
	SMTPPassword = "smtp-secret-0123"
)

// Mail is one message the SMTP server received.
type Mail struct {
	From    string
	To      []string
	Subject string
	Header  mail.Header
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded
	Raw     []byte
}

// SMTP is a local SMTP server that offers STARTTLS with a self-signed certificate and requires AUTH
// PLAIN after it, as a submission server (port 587) does.
type SMTP struct {
	Host   string // 127.0.0.1, the name the certificate is for
	Port   int
	CAFile string // PEM of the certificate, to verify the server with

	mu     sync.Mutex
	mails  []Mail
	script map[string][]*smtp.SMTPError // by recipient: RCPT answers before success
	rcpts  map[string]int
	auths  int
}

// NewSMTP starts the server; it stops when the test ends.
func NewSMTP(t testing.TB) *SMTP {
	t.Helper()
	certPEM, keyPEM := selfSigned(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	f := &SMTP{Host: "127.0.0.1", CAFile: caFile, script: map[string][]*smtp.SMTPError{}, rcpts: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{f: f}, nil }))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.AllowInsecureAuth = false // AUTH only after STARTTLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.Port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// Script makes the next RCPT TO commands for rcpt fail with the given SMTP codes (4xx transient, 5xx
// permanent), in order; later ones succeed.
func (f *SMTP) Script(rcpt string, codes ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, code := range codes {
		f.script[rcpt] = append(f.script[rcpt], &smtp.SMTPError{
			Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "scripted failure " + strconv.Itoa(code),
		})
	}
}

// Mails returns the mails received for rcpt.
func (f *SMTP) Mails(rcpt string) []Mail {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Mail
	for _, m := range f.mails {
		for _, to := range m.To {
			if strings.EqualFold(to, rcpt) {
				out = append(out, m)
			}
		}
	}
	return out
}

// Attempts returns how many RCPT TO commands named rcpt, accepted or not.
func (f *SMTP) Attempts(rcpt string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rcpts[strings.ToLower(rcpt)]
}

type session struct {
	f      *SMTP
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != SMTPUsername || password != SMTPPassword {
			return errors.New("invalid credentials")
		}
		s.authed = true
		s.f.mu.Lock()
		s.f.auths++
		s.f.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	key := strings.ToLower(to)
	s.f.rcpts[key]++
	if q := s.f.script[key]; len(q) > 0 {
		s.f.script[key] = q[1:]
		return q[0]
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Mail{From: s.from, To: s.to, Raw: raw}
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.Header = msg.Header
		m.Subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		m.Text, m.HTML = parts(msg.Header.Get("Content-Type"), msg.Body)
	}
	s.f.mu.Lock()
	s.f.mails = append(s.f.mails, m)
	s.f.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// parts returns the text/plain and text/html content of a (possibly multipart) body.
func parts(contentType string, body io.Reader) (text, html string) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		raw, _ := io.ReadAll(body)
		return string(raw), ""
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		raw, _ := io.ReadAll(body)
		if mediaType == "text/html" {
			return "", string(raw)
		}
		return string(raw), ""
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			return text, html
		}
		t, h := parts(p.Header.Get("Content-Type"), p)
		text += t
		html += h
	}
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "latchkey test SMTP"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
