package delivery

import (
	"context"
	"fmt"
)

// Router sends each message through the driver of its channel. A channel without a driver fails
// permanently: no retry would give it one.
type Router map[string]Sender

// Send passes m to the driver of m.Channel.
func (r Router) Send(ctx context.Context, m Message) (string, error) {
	s, ok := r[m.Channel]
	if !ok || s == nil {
		return "", Permanent(fmt.Errorf("no delivery driver for channel %s", m.Channel))
	}
	return s.Send(ctx, m)
}
