package kafkax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopics creates those of the named topics (names without prefix) that do not exist yet, with
// the given number of partitions and the cluster's default replication factor. The request goes to the
// controller; a topic that already exists, whatever its partition count, counts as success. Refused
// credentials or a failed TLS handshake give an error that matches ErrAuthentication.
func EnsureTopics(ctx context.Context, cluster Cluster, prefix string, partitions int, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	transport := cluster.transport(0)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cluster.Brokers...), Transport: transport, Timeout: 30 * time.Second}

	req := &kafka.CreateTopicsRequest{Topics: make([]kafka.TopicConfig, len(names))}
	for i, name := range names {
		req.Topics[i] = kafka.TopicConfig{
			Topic:             Topic(prefix, name),
			NumPartitions:     partitions,
			ReplicationFactor: -1, // the broker's default.replication.factor
		}
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create kafka topics %v: %w", names, diagnose(ctx, cluster, err))
	}
	var errs []error
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create kafka topic %s: %w", topic, err))
		}
	}
	return errors.Join(errs...)
}
