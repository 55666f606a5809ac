package stack

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/libs/devinfra/devpki"
	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
)

// The embedded broker's SASL settings with Config.SecureKafka.
const (
	KafkaSASLMechanism = "SCRAM-SHA-512"
	KafkaSASLUsername  = "latchkey"
)

// secureKafka prepares the embedded broker for Config.SecureKafka: a throwaway CA and a server
// certificate for 127.0.0.1 (the CA written to dir/tls/ca.pem for the services), and a SCRAM-SHA-512
// user whose password is kept in the data directory like the OTP pepper (the broker keeps its SCRAM
// credentials with its data). It sets the broker options and the services' KAFKA_TLS_* and
// KAFKA_SASL_* variables.
func (s *Stack) secureKafka(dir string, opts *kafkaserver.Options) error {
	ca, err := devpki.NewCA("latchkey local stack Kafka CA")
	if err != nil {
		return fmt.Errorf("stack: Kafka TLS: %w", err)
	}
	pair, err := ca.Server(host, "localhost")
	if err != nil {
		return fmt.Errorf("stack: Kafka TLS: %w", err)
	}
	cert, err := pair.TLSCertificate()
	if err != nil {
		return fmt.Errorf("stack: Kafka TLS: %w", err)
	}
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return fmt.Errorf("stack: Kafka TLS directory: %w", err)
	}
	caFile, _, _, err := devpki.WriteFiles(tlsDir, "broker", ca, pair)
	if err != nil {
		return fmt.Errorf("stack: Kafka TLS: %w", err)
	}
	password, err := s.kafkaPassword(dir)
	if err != nil {
		return err
	}
	opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	opts.Users = []kafkaserver.User{{Mechanism: KafkaSASLMechanism, Username: KafkaSASLUsername, Password: password}}
	s.kafkaEnv = map[string]string{
		"KAFKA_TLS_ENABLED":    "true",
		"KAFKA_TLS_CA_FILE":    caFile,
		"KAFKA_SASL_MECHANISM": KafkaSASLMechanism,
		"KAFKA_SASL_USERNAME":  KafkaSASLUsername,
		"KAFKA_SASL_PASSWORD":  password,
	}
	return nil
}

// kafkaPassword returns the SCRAM password of the embedded broker: the one in dir when a previous
// run left one, otherwise a new one, saved there.
func (s *Stack) kafkaPassword(dir string) (string, error) {
	path := filepath.Join(dir, "sasl_password")
	if raw, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(raw))) >= 32 {
		return strings.TrimSpace(string(raw)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("stack: Kafka SASL password: %w", err)
	}
	p, err := randomHex(32)
	if err != nil {
		return "", fmt.Errorf("stack: Kafka SASL password: %w", err)
	}
	if err := os.WriteFile(path, []byte(p+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("stack: Kafka SASL password: %w", err)
	}
	return p, nil
}

// ServiceEnv returns the environment the stack runs the service with ("KEY=value" items, the
// parent's environment included), so a test can start a copy of it with a variable changed. With
// replicas it is the first one's.
func (s *Stack) ServiceEnv(name string) ([]string, error) {
	svcs, err := s.service(name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(svcs[0].env), nil
}

// KafkaEnv returns the KAFKA_TLS_* and KAFKA_SASL_* variables the stack gives every service (empty
// without Config.SecureKafka), for tools and tests that connect to the embedded broker themselves.
func (s *Stack) KafkaEnv() map[string]string {
	out := make(map[string]string, len(s.kafkaEnv))
	for k, v := range s.kafkaEnv {
		out[k] = v
	}
	return out
}
