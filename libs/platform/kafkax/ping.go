package kafkax

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Ping reports whether at least one broker answers a metadata request (readiness checks use it).
func Ping(ctx context.Context, brokers []string) error {
	var errs []error
	for _, b := range brokers {
		conn, err := (&kafka.Dialer{}).DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, fmt.Errorf("dial %s: %w", b, err))
			continue
		}
		_, err = conn.Brokers()
		_ = conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("metadata from %s: %w", b, err))
	}
	if len(errs) == 0 {
		return errors.New("no kafka brokers configured")
	}
	return errors.Join(errs...)
}
