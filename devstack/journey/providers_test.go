package journey_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/devstack/stack"
	"github.com/latchkey/latchkey/libs/devinfra/devpki"
)

// Local stand-ins for the SaaS the notification service sends through, speaking their protocols:
// Twilio's Messaging API (POST /2010-04-01/Accounts/{sid}/Messages.json, basic auth, form body) and
// an SMTP server with implicit TLS under a throwaway CA. They record what arrives, so a journey can
// count real deliveries instead of dev-outbox entries.

const (
	fakeTwilioSID   = "AC0123456789abcdef0123456789abcdef"
	fakeTwilioToken = "0123456789abcdef0123456789abcdef"
	fakeSMSFrom     = "+15005550006"
)

// fakeTwilio records the messages Twilio accepted.
type fakeTwilio struct {
	URL string

	mu       sync.Mutex
	messages map[string][]string // To → bodies
	problems []string
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{messages: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+fakeTwilioSID+"/Messages.json" ||
			!ok || user != fakeTwilioSID || pass != fakeTwilioToken || r.ParseForm() != nil ||
			r.PostForm.Get("To") == "" || r.PostForm.Get("Body") == "" || r.PostForm.Get("From") != fakeSMSFrom {
			f.mu.Lock()
			f.problems = append(f.problems, r.Method+" "+r.URL.Path+" from "+user)
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"code":21602,"message":"bad request","status":400}`))
			return
		}
		f.mu.Lock()
		to := r.PostForm.Get("To")
		f.messages[to] = append(f.messages[to], r.PostForm.Get("Body"))
		n := len(f.messages[to])
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"sid": "SM" + strconv.Itoa(n) + strings.Repeat("0", 31), "account_sid": fakeTwilioSID, "to": to,
			"from": fakeSMSFrom, "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
		})
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Messages returns the bodies of the SMS sent to to.
func (f *fakeTwilio) Messages(to string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.messages[to]...)
}

// Problems lists the requests the real Twilio would have refused.
func (f *fakeTwilio) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

// fakeSMTP is an SMTP server with implicit TLS that accepts every message.
type fakeSMTP struct {
	Port   int
	CAFile string

	mu    sync.Mutex
	mails map[string][]string // recipient → text bodies
}

func newFakeSMTP(t *testing.T) *fakeSMTP {
	ca, err := devpki.NewCA("journey SMTP CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{Port: ln.Addr().(*net.TCPAddr).Port, CAFile: caFile, mails: map[string][]string{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.serve(c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return f
}

// serve speaks the server side of RFC 5321 as far as a submission client needs it.
func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
	reply("220 localhost fake ESMTP")
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			reply("250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8")
		case strings.HasPrefix(cmd, "MAIL FROM:"), strings.HasPrefix(cmd, "NOOP"):
			reply("250 OK")
		case strings.HasPrefix(cmd, "RSET"):
			rcpts = nil
			reply("250 OK")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			addr := strings.Trim(strings.TrimSpace(line[len("RCPT TO:"):]), "<>")
			if i := strings.Index(addr, ">"); i >= 0 {
				addr = addr[:i]
			}
			rcpts = append(rcpts, strings.ToLower(addr))
			reply("250 OK")
		case cmd == "DATA":
			reply("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			text := mailText(data.String())
			f.mu.Lock()
			for _, to := range rcpts {
				f.mails[to] = append(f.mails[to], text)
			}
			f.mu.Unlock()
			rcpts = nil
			reply("250 OK queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 command not implemented")
		}
	}
}

// Mails returns the text of the mails sent to to.
func (f *fakeSMTP) Mails(to string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.mails[strings.ToLower(to)]...)
}

// mailText is the text/plain content of a message (its first part when multipart).
func mailText(raw string) string {
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return raw
	}
	return partText(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
}

func partText(contentType, encoding string, body io.Reader) string {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err == nil && strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var out string
		for {
			p, err := mr.NextPart() // decodes quoted-printable
			if err != nil {
				return out
			}
			out += partText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
	if err == nil && mediaType != "text/plain" {
		return ""
	}
	raw, _ := io.ReadAll(body)
	return string(raw)
}

// codeIn is the six-digit code of a message, "" when it has none.
func codeIn(text string) string { return sixDigits.FindString(text) }

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// withLiveDelivery makes the notification service deliver through the fakes instead of the dev outbox.
func withLiveDelivery(tw *fakeTwilio, mailer *fakeSMTP) func(*stack.Config) {
	return withServiceEnv(stack.Notification, map[string]string{
		"DELIVERY_DRIVER":     "live",
		"TWILIO_ACCOUNT_SID":  fakeTwilioSID,
		"TWILIO_AUTH_TOKEN":   fakeTwilioToken,
		"TWILIO_SMS_FROM":     fakeSMSFrom,
		"TWILIO_API_BASE_URL": tw.URL,
		"SMTP_HOST":           "127.0.0.1",
		"SMTP_PORT":           strconv.Itoa(mailer.Port),
		"SMTP_FROM":           "Latchkey <no-reply@example.com>",
		"SMTP_TLS":            "tls",
		"SMTP_TLS_CA_FILE":    mailer.CAFile,
	})
}
