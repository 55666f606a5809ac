package kafkax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

// Metrics of the outbox relay and the readers, exported by every service through telemetry.
var (
	outboxPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "latchkey_outbox_pending_events",
		Help: "Events in the service's outbox not yet published to Kafka (measured by the relay at most every 5s, every 15s or so while it is idle).",
	})
	// outboxOldest is the creation time (Unix nanoseconds) of the oldest pending event, 0 when none.
	outboxOldest     atomic.Int64
	outboxOldestAge  = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "latchkey_outbox_oldest_pending_age_seconds", Help: "Age of the oldest event in the outbox not yet published; 0 when none is pending."}, oldestPendingAge)
	outboxPublished  = prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_outbox_published_events_total", Help: "Outbox events published to Kafka by this process's relay."})
	outboxPublishErr = prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_outbox_publish_failures_total", Help: "Failed attempts to publish an outbox event (each is retried)."})

	consumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "latchkey_kafka_consumer_lag_messages",
		Help: "Messages of the partition the consumer group has not processed yet, as of its last fetch (the message in hand included).",
	}, []string{"group", "topic", "partition"})
	consumerEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_kafka_consumer_events_total",
		Help: "Events a consumer group is done with, by outcome: handled, skipped (handler failed MaxAttempts times) or undecodable.",
	}, []string{"group", "topic", "outcome"})
	consumerFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_kafka_consumer_handler_failures_total",
		Help: "Failed handler calls of a consumer group (each is retried); rising while the lag grows means a stuck partition.",
	}, []string{"group", "topic"})
	broadcastLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "latchkey_kafka_broadcast_lag_messages",
		Help: "Messages of the partition a broadcast reader (deny-list follower) has not read yet, as of its last fetch.",
	}, []string{"topic", "partition"})
)

func init() {
	telemetry.MustRegister(outboxPending, outboxOldestAge, outboxPublished, outboxPublishErr,
		consumerLag, consumerEvents, consumerFailures, broadcastLag)
}

// Outcomes of latchkey_kafka_consumer_events_total.
const (
	outcomeHandled     = "handled"
	outcomeSkipped     = "skipped"
	outcomeUndecodable = "undecodable"
)

func oldestPendingAge() float64 {
	created := outboxOldest.Load()
	if created == 0 {
		return 0
	}
	return max(0, time.Since(time.Unix(0, created)).Seconds())
}

// outboxMeasureEvery is how often at most the relay counts the outbox's pending events (it counts
// after a round, so an idle relay counts once per poll).
const outboxMeasureEvery = 5 * time.Second

// measureBacklog counts the pending events and finds the oldest for the outbox metrics. A failure
// leaves the last values (the age keeps growing from the last oldest event seen).
func (o *Outbox) measureBacklog(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	pending := bson.M{"sentAt": nil}
	n, err := o.coll.CountDocuments(ctx, pending)
	if err != nil {
		o.log.DebugContext(ctx, "cannot count pending outbox events", "err", err)
		return
	}
	var oldest struct {
		CreatedAt time.Time `bson:"createdAt"`
	}
	err = o.coll.FindOne(ctx, pending, options.FindOne().
		SetSort(bson.D{{Key: "createdAt", Value: 1}}).
		SetProjection(bson.M{"createdAt": 1})).Decode(&oldest)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		outboxOldest.Store(0)
	case err != nil:
		o.log.DebugContext(ctx, "cannot find the oldest pending outbox event", "err", err)
		return
	default:
		outboxOldest.Store(oldest.CreatedAt.UnixNano())
	}
	outboxPending.Set(float64(n))
}

// consumerMetrics records one group member's metrics. The lag series of the partitions it read are
// dropped when the member leaves, so that a replica that no longer owns a partition does not keep
// reporting its last lag.
type consumerMetrics struct {
	group, topic string
	partitions   map[int]bool
}

// startConsumerMetrics creates the member's counters at zero, so they exist before the first event.
func startConsumerMetrics(group, topic string) *consumerMetrics {
	for _, o := range []string{outcomeHandled, outcomeSkipped, outcomeUndecodable} {
		consumerEvents.WithLabelValues(group, topic, o)
	}
	consumerFailures.WithLabelValues(group, topic)
	return &consumerMetrics{group: group, topic: topic, partitions: map[int]bool{}}
}

// observeFetch records the lag of the message's partition when it was fetched: the message itself
// and those after it are not processed yet.
func (c *consumerMetrics) observeFetch(msg kafka.Message) {
	c.partitions[msg.Partition] = true
	consumerLag.WithLabelValues(c.group, c.topic, strconv.Itoa(msg.Partition)).Set(float64(max(0, msg.HighWaterMark-msg.Offset)))
}

// observeDone records that the member is done with msg.
func (c *consumerMetrics) observeDone(msg kafka.Message, outcome string) {
	consumerLag.WithLabelValues(c.group, c.topic, strconv.Itoa(msg.Partition)).Set(float64(max(0, msg.HighWaterMark-msg.Offset-1)))
	consumerEvents.WithLabelValues(c.group, c.topic, outcome).Inc()
}

// forget drops the lag series of the partitions this member read.
func (c *consumerMetrics) forget() {
	for p := range c.partitions {
		consumerLag.DeleteLabelValues(c.group, c.topic, strconv.Itoa(p))
	}
}

// observeBroadcast records a broadcast reader's lag after reading msg.
func observeBroadcast(msg kafka.Message) {
	broadcastLag.WithLabelValues(msg.Topic, strconv.Itoa(msg.Partition)).Set(float64(max(0, msg.HighWaterMark-msg.Offset-1)))
}

// kafkaLogger routes kafka-go's informational messages (connections, group membership, commits) to
// log at debug level: useful when chasing a problem, noise otherwise. A nil log means slog's default
// logger at the time of each message.
func kafkaLogger(l *slog.Logger, prefix string) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		log := l
		if log == nil {
			log = slog.Default()
		}
		if log.Enabled(context.Background(), slog.LevelDebug) { // kafka-go logs every idle fetch
			log.Debug(prefix + fmt.Sprintf(msg, args...))
		}
	})
}
