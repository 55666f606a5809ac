package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// SASL mechanisms KAFKA_SASL_MECHANISM accepts.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// KafkaTLS is how the services encrypt their Kafka connections (KAFKA_TLS_*).
type KafkaTLS struct {
	// Enabled switches TLS on (KAFKA_TLS_ENABLED).
	Enabled bool
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates (KAFKA_TLS_CA_FILE);
	// empty means the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and its key, PEM (KAFKA_TLS_CERT_FILE,
	// KAFKA_TLS_KEY_FILE): both or neither.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry (KAFKA_TLS_SERVER_NAME); empty means
	// the host of each broker address.
	ServerName string
}

// KafkaSASL is how the services authenticate to Kafka (KAFKA_SASL_*).
type KafkaSASL struct {
	// Mechanism is empty (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (KAFKA_SASL_MECHANISM).
	Mechanism string
	// Username and Password are the credentials (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD).
	Username string
	Password Secret
}

// loadKafkaSecurity reads KAFKA_TLS_* and KAFKA_SASL_*.
func (l *Loader) loadKafkaSecurity() (KafkaTLS, KafkaSASL) {
	t := KafkaTLS{
		Enabled:    l.Bool("KAFKA_TLS_ENABLED", false),
		CAFile:     l.String("KAFKA_TLS_CA_FILE", ""),
		CertFile:   l.String("KAFKA_TLS_CERT_FILE", ""),
		KeyFile:    l.String("KAFKA_TLS_KEY_FILE", ""),
		ServerName: l.String("KAFKA_TLS_SERVER_NAME", ""),
	}
	s := KafkaSASL{
		Mechanism: strings.ToUpper(l.String("KAFKA_SASL_MECHANISM", "")),
		Username:  l.String("KAFKA_SASL_USERNAME", ""),
		Password:  l.Secret("KAFKA_SASL_PASSWORD", ""),
	}
	return t, s
}

// KafkaCluster turns the shared configuration into the kafkax.Cluster every Kafka connection of the
// service uses: it reads the CA bundle and the client key pair and builds the SASL mechanism. Its
// errors name the variable at fault. LoadBase calls it once and keeps the result in Base.Kafka.
func (b Base) KafkaCluster() (kafkax.Cluster, error) {
	c := kafkax.Cluster{Brokers: append([]string(nil), b.KafkaBrokers...)}
	var errs []error
	if tlsConfig, err := b.KafkaTLS.config(); err != nil {
		errs = append(errs, err)
	} else {
		c.TLS = tlsConfig
	}
	if mechanism, err := b.KafkaSASL.mechanism(); err != nil {
		errs = append(errs, err)
	} else {
		c.SASL = mechanism
	}
	if err := errors.Join(errs...); err != nil {
		return kafkax.Cluster{}, err
	}
	return c, nil
}

// KafkaWarnings lists what is allowed but unsafe in the Kafka settings, for a start-up log line.
func (b Base) KafkaWarnings() []string {
	var w []string
	if b.KafkaSASL.Mechanism == SASLPlain && !b.KafkaTLS.Enabled {
		w = append(w, "KAFKA_SASL_MECHANISM=PLAIN without KAFKA_TLS_ENABLED: the Kafka password crosses the network in clear text")
	}
	return w
}

// config returns the TLS configuration, or nil when TLS is off.
func (t KafkaTLS) config() (*tls.Config, error) {
	if !t.Enabled {
		var set []string
		for key, v := range map[string]string{"KAFKA_TLS_CA_FILE": t.CAFile, "KAFKA_TLS_CERT_FILE": t.CertFile, "KAFKA_TLS_KEY_FILE": t.KeyFile, "KAFKA_TLS_SERVER_NAME": t.ServerName} {
			if v != "" {
				set = append(set, key)
			}
		}
		if len(set) > 0 {
			slices.Sort(set)
			return nil, fmt.Errorf("%s set but KAFKA_TLS_ENABLED is false: want KAFKA_TLS_ENABLED=true", strings.Join(set, ", "))
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	var errs []error
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("KAFKA_TLS_CA_FILE=%q: %w", t.CAFile, err))
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("KAFKA_TLS_CA_FILE=%q: want a PEM bundle of CA certificates, found none", t.CAFile))
			}
			c.RootCAs = pool
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// The error of LoadX509KeyPair never quotes the key.
			errs = append(errs, fmt.Errorf("KAFKA_TLS_CERT_FILE=%q, KAFKA_TLS_KEY_FILE=%q: %w", t.CertFile, t.KeyFile, err))
		} else {
			c.Certificates = []tls.Certificate{pair}
		}
	case t.CertFile != "":
		errs = append(errs, errors.New("KAFKA_TLS_CERT_FILE is set without KAFKA_TLS_KEY_FILE: want both or neither"))
	case t.KeyFile != "":
		errs = append(errs, errors.New("KAFKA_TLS_KEY_FILE is set without KAFKA_TLS_CERT_FILE: want both or neither"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// mechanism returns the SASL mechanism, or nil when SASL is off.
func (s KafkaSASL) mechanism() (sasl.Mechanism, error) {
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" {
			return nil, errors.New("KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD set without KAFKA_SASL_MECHANISM: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
		return nil, nil
	}
	var algo scram.Algorithm
	switch s.Mechanism {
	case SASLPlain:
	case SASLScramSHA256:
		algo = scram.SHA256
	case SASLScramSHA512:
		algo = scram.SHA512
	default:
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	var missing []string
	if s.Username == "" {
		missing = append(missing, "KAFKA_SASL_USERNAME")
	}
	if s.Password == "" {
		missing = append(missing, "KAFKA_SASL_PASSWORD")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM=%s needs %s", s.Mechanism, strings.Join(missing, " and "))
	}
	if algo == nil {
		return plain.Mechanism{Username: s.Username, Password: s.Password.Value()}, nil
	}
	m, err := scram.Mechanism(algo, s.Username, s.Password.Value())
	if err != nil {
		// SASLprep's error quotes the refused character, which may be the password's: not wrapped.
		return nil, fmt.Errorf("KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD: not usable with %s: a character SASLprep (RFC 4013) prohibits, such as a control character", s.Mechanism)
	}
	return m, nil
}
