package kafkax

import (
	"context"
	"errors"
	"fmt"
)

// Ping reports whether at least one broker answers a metadata request (readiness checks use it),
// over the cluster's TLS and SASL. Refused credentials or a failed TLS handshake give an error that
// matches ErrAuthentication.
func Ping(ctx context.Context, cluster Cluster) error {
	var errs []error
	dialer := cluster.dialer()
	for _, b := range cluster.Brokers {
		conn, err := dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, fmt.Errorf("dial %s: %w", b, classify(err)))
			continue
		}
		_, err = conn.Brokers()
		_ = conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("metadata from %s: %w", b, classify(err)))
	}
	if len(errs) == 0 {
		return errors.New("no kafka brokers configured")
	}
	return errors.Join(errs...)
}
