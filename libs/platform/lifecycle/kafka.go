package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// topicPartitions is how many partitions a topic created at start gets.
const topicPartitions = 3

// This file is every Kafka connection the runtime and the services built on it make: topic creation,
// the producer, the readiness ping, consumer groups and the deny-list follower. The cluster's
// settings (config.Base) are read here and nowhere else.

// startKafka creates the service's topics (KAFKA_CREATE_TOPICS) and the producer.
func (rt *Runtime) startKafka(ctx context.Context, opts Options) error {
	for _, w := range rt.Config.KafkaWarnings() {
		rt.Log.Warn(w)
	}
	if rt.Config.CreateTopics && len(opts.Topics) > 0 {
		err := kafkax.EnsureTopics(ctx, rt.Config.Kafka, rt.Config.TopicPrefix, topicPartitions, opts.Topics...)
		switch {
		case err != nil && opts.TopicsBestEffort && !errors.Is(err, kafkax.ErrAuthentication):
			// Refused credentials never pass by themselves: a clear start-up error, even here.
			rt.Log.Warn("could not ensure Kafka topics", "err", err)
		case err != nil:
			return fmt.Errorf("kafka topics: %w", err)
		}
	}
	rt.Producer = kafkax.NewProducer(rt.Config.Kafka, rt.Config.TopicPrefix)
	rt.onClose("close Kafka producer", rt.Producer.Close)
	return nil
}

// pingKafka is the readiness check of the Kafka cluster.
func (rt *Runtime) pingKafka(ctx context.Context) error {
	return kafkax.Ping(ctx, rt.Config.Kafka)
}

// Consumer returns the settings of a consumer group reading topic (named without prefix); the caller
// may set the retry fields before passing them to kafkax.RunConsumer.
func (rt *Runtime) Consumer(group, topic string) kafkax.ConsumerConfig {
	return kafkax.ConsumerConfig{
		Cluster: rt.Config.Kafka, GroupID: group, Topic: kafkax.Topic(rt.Config.TopicPrefix, topic), Logger: rt.Log,
	}
}

// FollowRevocations returns a worker that keeps deny up to date from the revocation topics, reading
// lookback into the past at start (see authn.DenyList.Follow).
func (rt *Runtime) FollowRevocations(deny *authn.DenyList, lookback time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		return deny.Follow(ctx, rt.Config.Kafka, rt.Config.TopicPrefix, lookback, rt.Log)
	}
}
