package kafkax

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// dialTimeout bounds connecting to a broker, TLS and SASL handshakes included, for readers and Ping
// (kafka-go's DefaultDialer uses the same); transports keep kafka-go's default (5s).
const dialTimeout = 10 * time.Second

// Cluster is how to reach a Kafka cluster: its bootstrap addresses and, as production clusters need,
// TLS and SASL. Every connection kafkax makes (producer, consumer groups, broadcast readers, topic
// creation, Ping) goes through it. The zero TLS and SASL mean plaintext without authentication.
type Cluster struct {
	// Brokers are the bootstrap addresses ("host:port").
	Brokers []string
	// TLS, when not nil, encrypts every connection. kafka-go fills in ServerName from the broker's
	// host when it is empty.
	TLS *tls.Config
	// SASL, when not nil, authenticates every connection (sasl/plain or sasl/scram of kafka-go).
	SASL sasl.Mechanism
}

// ErrAuthentication marks errors where the brokers refused the client's credentials or the TLS
// handshake failed: retrying does not help, the configuration is wrong.
var ErrAuthentication = errors.New("kafka authentication failed (check KAFKA_SASL_* and KAFKA_TLS_*)")

// transport returns a kafka-go transport of its own for the cluster. metadataTTL 0 means kafka-go's
// default.
func (c Cluster) transport(metadataTTL time.Duration) *kafka.Transport {
	return &kafka.Transport{
		MetadataTTL: metadataTTL,
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}

// dialer returns the dialer of readers and Ping.
func (c Cluster) dialer() *kafka.Dialer {
	return &kafka.Dialer{
		Timeout:       dialTimeout,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
	}
}

// String describes the cluster for logs: brokers and security, never credentials.
func (c Cluster) String() string {
	security := "plaintext"
	if c.TLS != nil {
		security = "tls"
	}
	if c.SASL != nil {
		security += "+sasl/" + c.SASL.Name()
	}
	return fmt.Sprintf("%v (%s)", c.Brokers, security)
}

// classify marks err with ErrAuthentication when it is a refused SASL exchange or a failed TLS
// handshake, so callers can tell a wrong configuration from a broker that is merely away.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrAuthentication) || !isAuthFailure(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrAuthentication, err)
}

// diagnose explains a failed request of kafka-go's Transport, which reports a refused SASL exchange or
// TLS handshake only as "unexpected EOF" or "Broker Not Available": it dials the brokers once more
// with the Dialer, which reports the refusal itself, and returns err marked ErrAuthentication with
// that cause when the brokers refuse the client. Any other err is returned as it is.
func diagnose(ctx context.Context, c Cluster, err error) error {
	if err == nil || errors.Is(err, ErrAuthentication) || ctx.Err() != nil {
		return classify(err)
	}
	if perr := Ping(ctx, c); errors.Is(perr, ErrAuthentication) {
		return fmt.Errorf("%w (%w)", perr, err)
	}
	return err
}

func isAuthFailure(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		alert            tls.AlertError
		recordHeader     tls.RecordHeaderError
		remote           *net.OpError
	)
	return errors.Is(err, kafka.SASLAuthenticationFailed) ||
		errors.Is(err, kafka.UnsupportedSASLMechanism) ||
		errors.Is(err, kafka.IllegalSASLState) ||
		errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &recordHeader) ||
		errors.As(err, &remote) && remote.Op == "remote error" // a TLS alert from the broker: "tls: certificate required"
}
