package kafkax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// topicPollInterval is how often RunBroadcast looks again for a topic that does not exist yet.
const topicPollInterval = time.Second

// RunBroadcast reads every partition of topic (with the deployment prefix already in front) without a
// consumer group, so every instance of every service sees every event. Each partition is read from its
// first event at or after since; when there is none, from the end of the partition as it was before
// the lookup, so nothing published meanwhile is missed. If the offsets cannot be looked up, it reads
// from the beginning. A topic that does not exist yet is waited for. handle is called concurrently
// from one goroutine per partition; its errors and undecodable messages are logged and skipped.
// Partitions added after the start are not read. RunBroadcast returns nil when ctx is done.
func RunBroadcast(ctx context.Context, cluster Cluster, topic string, since time.Time, handle Handler) error {
	log := slog.Default().With("topic", topic, "reader", "broadcast")
	transport := cluster.transport(topicPollInterval)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cluster.Brokers...), Transport: transport, Timeout: 10 * time.Second}

	partitions, err := waitForTopic(ctx, cluster, client, topic, log)
	if err != nil || ctx.Err() != nil {
		return nil
	}
	starts := startOffsets(ctx, client, topic, partitions, since, log)
	// The client is done: its connections would otherwise refresh the metadata every
	// topicPollInterval for as long as the readers run.
	transport.CloseIdleConnections()
	log.DebugContext(ctx, "reading all partitions", "since", since, "start_offsets", starts)

	var wg sync.WaitGroup
	for _, p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readPartition(ctx, cluster, topic, p, starts[p], handle, log.With("partition", p))
		}()
	}
	wg.Wait()
	return nil
}

// waitForTopic returns the topic's partitions once it exists, or ctx's error. Refused credentials are
// logged as such, at warn level: waiting does not help, the configuration must change.
func waitForTopic(ctx context.Context, cluster Cluster, client *kafka.Client, topic string, log *slog.Logger) ([]int, error) {
	for logged := false; ; {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			for _, t := range md.Topics {
				if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
					ids := make([]int, len(t.Partitions))
					for i, p := range t.Partitions {
						ids[i] = p.ID
					}
					return ids, nil
				}
			}
			err = fmt.Errorf("topic %s does not exist yet", topic)
		}
		if !logged {
			if err = diagnose(ctx, cluster, err); errors.Is(err, ErrAuthentication) {
				log.WarnContext(ctx, "waiting for the topic: the brokers refuse this client", "err", err)
			} else {
				log.InfoContext(ctx, "waiting for the topic", "err", err)
			}
			logged = true
		}
		if !sleep(ctx, topicPollInterval) {
			return nil, ctx.Err()
		}
	}
}

// startOffsets returns the offset to start each partition at (kafka.FirstOffset where the lookup
// failed).
func startOffsets(ctx context.Context, client *kafka.Client, topic string, partitions []int, since time.Time, log *slog.Logger) map[int]int64 {
	starts := make(map[int]int64, len(partitions))
	for _, p := range partitions {
		starts[p] = kafka.FirstOffset
	}
	ends, err := listOffsets(ctx, client, topic, partitions, kafka.LastOffsetOf)
	if err != nil {
		log.WarnContext(ctx, "cannot look up the end offsets; reading from the beginning", "err", err)
		return starts
	}
	atTime, err := listOffsets(ctx, client, topic, partitions, func(p int) kafka.OffsetRequest { return kafka.TimeOffsetOf(p, since) })
	if err != nil {
		log.WarnContext(ctx, "cannot look up offsets by time; reading from the beginning", "err", err)
		return starts
	}
	for _, p := range partitions {
		found := false
		for offset := range atTime[p].Offsets {
			if offset >= 0 { // kafka-go reports "no such event" as offset -1
				starts[p], found = offset, true
			}
		}
		if !found {
			// No event at or after since yet: whatever is published from now on has an offset at or
			// after the end looked up before.
			starts[p] = ends[p].LastOffset
		}
	}
	return starts
}

func listOffsets(ctx context.Context, client *kafka.Client, topic string, partitions []int, req func(int) kafka.OffsetRequest) (map[int]kafka.PartitionOffsets, error) {
	reqs := make([]kafka.OffsetRequest, len(partitions))
	for i, p := range partitions {
		reqs[i] = req(p)
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	byPartition := make(map[int]kafka.PartitionOffsets, len(partitions))
	var errs []error
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", po.Partition, po.Error))
		}
		byPartition[po.Partition] = po
	}
	if len(byPartition) != len(partitions) {
		errs = append(errs, fmt.Errorf("answer covers %d of %d partitions", len(byPartition), len(partitions)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	return byPartition, nil
}

// readPartition reads one partition from offset until ctx is done.
func readPartition(ctx context.Context, cluster Cluster, topic string, partition int, offset int64, handle Handler, log *slog.Logger) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cluster.Brokers,
		Dialer:         cluster.dialer(),
		Topic:          topic,
		Partition:      partition,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        fetchMaxWait,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 250 * time.Millisecond,
		// No lag poll (a connection and a ListOffsets a minute per partition): the lag metric comes
		// from each fetch's high watermark (observeBroadcast).
		ReadLagInterval: -1,
		Logger:          kafkaLogger(log, "kafka reader: "),
		ErrorLogger:     readerErrorLogger(ctx, log),
	})
	defer func() { _ = r.Close() }()
	if err := r.SetOffset(offset); err != nil {
		log.ErrorContext(ctx, "cannot set the start offset", "offset", offset, "err", err)
		return
	}
	for {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.WarnContext(ctx, "read failed; retrying", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		observeBroadcast(msg)
		hctx, span, ev, err := decodeMessage(ctx, "process", msg)
		if err != nil {
			log.ErrorContext(hctx, "skipping a message that is not an event envelope", "offset", msg.Offset, "err", err)
		} else if err := callHandler(hctx, handle, ev); err != nil {
			span.RecordError(err)
			log.ErrorContext(hctx, "handler failed; skipping the event", "offset", msg.Offset, "event_id", ev.EventID, "err", err)
		}
		span.End()
	}
}
