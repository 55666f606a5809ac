package email_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/email"
	"github.com/latchkey/latchkey/services/notification/internal/providertest"
)

func config(srv *providertest.SMTP) email.Config {
	return email.Config{
		Host: srv.Host, Port: srv.Port, Username: providertest.SMTPUsername, Password: providertest.SMTPPassword,
		From: "Latchkey <no-reply@latchkey.test>", CAFile: srv.CAFile, Timeout: 5 * time.Second,
	}
}

func message() delivery.Message {
	return delivery.Message{
		ID: "ev-1:email", Channel: delivery.ChannelEmail, To: "jane@example.com", Subject: "Your Latchkey sign-in code",
		Body: "Hello,\n\nUse this code: 482913\n", HTML: "<p>Use this code:</p><p>482913</p>",
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	srv := providertest.NewSMTP(t)
	s, err := email.New(config(srv))
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Send(context.Background(), message())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := srv.Mails("jane@example.com")
	if len(mails) != 1 {
		t.Fatalf("server got %d mails, want 1", len(mails))
	}
	m := mails[0]
	if m.From != "no-reply@latchkey.test" || m.Subject != "Your Latchkey sign-in code" {
		t.Errorf("from %q subject %q", m.From, m.Subject)
	}
	if !strings.Contains(m.Text, "482913") || !strings.Contains(m.HTML, "<p>482913</p>") {
		t.Errorf("text %q html %q: want both alternatives with the code", m.Text, m.HTML)
	}
	if got := m.Header.Get("Message-Id"); got != id || !strings.Contains(id, "ev-1:email") {
		t.Errorf("Message-ID %q, Send returned %q", got, id)
	}
	if m.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", m.Header.Get("Auto-Submitted"))
	}
}

func TestSendFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		change        func(*email.Config)
		script        []int
		wantPermanent bool
	}{
		{name: "mailbox unavailable", script: []int{550}, wantPermanent: true},
		{name: "try again later", script: []int{451}, wantPermanent: false},
		{name: "wrong password", change: func(c *email.Config) { c.Password = "nope" }, wantPermanent: true},
		// Without the CA the self-signed certificate is refused: verification is on by default.
		{name: "unverified certificate", change: func(c *email.Config) { c.CAFile = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := providertest.NewSMTP(t)
			srv.Script("jane@example.com", tc.script...)
			cfg := config(srv)
			if tc.change != nil {
				tc.change(&cfg)
			}
			s, err := email.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), message())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if tc.script != nil && delivery.IsPermanent(err) != tc.wantPermanent {
				t.Errorf("permanent = %v, want %v (%v)", delivery.IsPermanent(err), tc.wantPermanent, err)
			}
			if got := srv.Mails("jane@example.com"); len(got) != 0 {
				t.Errorf("server got %d mails", len(got))
			}
		})
	}
	t.Run("insecure skip verify is an explicit option", func(t *testing.T) {
		t.Parallel()
		srv := providertest.NewSMTP(t)
		cfg := config(srv)
		cfg.CAFile, cfg.InsecureSkipVerify = "", true
		s, err := email.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(context.Background(), message()); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  email.Config
	}{
		{"no host", email.Config{From: "a@b.co"}},
		{"no sender", email.Config{Host: "smtp.example.com"}},
		{"unknown TLS mode", email.Config{Host: "smtp.example.com", From: "a@b.co", TLSMode: "none"}},
		{"missing CA file", email.Config{Host: "smtp.example.com", From: "a@b.co", CAFile: "/does/not/exist.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := email.New(tc.cfg); err == nil {
				t.Error("New accepted the configuration")
			}
		})
	}
}
