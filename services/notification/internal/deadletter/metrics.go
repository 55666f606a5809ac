package deadletter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

// deadLetters counts the deliveries given up on and published to a dead-letter topic, by the topic
// they came from: each is a message a user never got.
var deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "latchkey_notification_dead_letters_total",
	Help: "Deliveries given up on and published to the dead-letter topic, by source topic.",
}, []string{"source_topic"})

func init() {
	telemetry.MustRegister(deadLetters)
	for _, source := range []string{events.TopicOTPDispatch, events.TopicAccountEvents} {
		deadLetters.WithLabelValues(source) // every series exists from the start
	}
}
