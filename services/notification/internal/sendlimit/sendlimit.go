// Package sendlimit is the notification service's abuse guard: fixed-window counters in MongoDB (so
// every replica shares them) that cap how many messages one destination, and one country calling code
// (SMS and WhatsApp, where a flood of messages to premium-rate numbers runs up the bill), receive per
// window. It implements delivery.Limiter.
package sendlimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// Collection holds the counters.
const Collection = "send_limits"

// Limit is at most Max messages per Window. A zero Window means no limit; Max 0 with a Window blocks.
type Limit struct {
	Max    int
	Window time.Duration
}

// Off reports whether the limit limits nothing.
func (l Limit) Off() bool { return l.Window <= 0 }

func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.Max, l.Window)
}

// ParseLimit reads "N/duration" ("10/1h", "0/24h"), or "off".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return Limit{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	max, err1 := strconv.Atoi(strings.TrimSpace(n))
	window, err2 := time.ParseDuration(strings.TrimSpace(d))
	if !ok || err1 != nil || err2 != nil || max < 0 || window <= 0 {
		return Limit{}, fmt.Errorf("limit %q: want N/duration such as 10/1h, or off", s)
	}
	return Limit{Max: max, Window: window}, nil
}

// ParseOverrides reads per-country limits: "+234=5/1h,+44=500/1h" (calling code = limit).
func ParseOverrides(s string) (map[string]Limit, error) {
	out := map[string]Limit{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		code, lim, ok := strings.Cut(part, "=")
		code = strings.TrimPrefix(strings.TrimSpace(code), "+")
		if !ok || code == "" || strings.Trim(code, "0123456789") != "" {
			return nil, fmt.Errorf("country limit %q: want +CODE=N/duration", part)
		}
		l, err := ParseLimit(lim)
		if err != nil {
			return nil, fmt.Errorf("country limit %q: %w", part, err)
		}
		out[code] = l
	}
	return out, nil
}

// Config is the limits.
type Config struct {
	PerDestination Limit            // every channel, per normalised destination
	PerCountry     Limit            // SMS and WhatsApp, per country calling code
	Countries      map[string]Limit // per calling code (without '+'), replaces PerCountry there
}

// Limiter counts messages against Config. It is safe for concurrent use.
type Limiter struct {
	coll *mongo.Collection
	cfg  Config
}

// New returns a limiter over db's send_limits collection.
func New(db *mongo.Database, cfg Config) *Limiter {
	return &Limiter{coll: db.Collection(Collection), cfg: cfg}
}

// EnsureIndexes lets MongoDB delete counters of past windows (FerretDB keeps them: harmless, each
// window has its own document).
func (l *Limiter) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, l.coll, mongo.IndexModel{
		Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0),
	})
}

// Allow counts msgs (one dispatch: same destination, one or two channels) and reports whether they
// stay within every limit. When they do not, reason says which limit was hit.
func (l *Limiter) Allow(ctx context.Context, msgs []delivery.Message, now time.Time) (bool, string, error) {
	if len(msgs) == 0 {
		return true, "", nil
	}
	to := msgs[0].To
	phone := 0
	for _, m := range msgs {
		if m.Channel != delivery.ChannelEmail {
			phone++
		}
	}
	if ok, err := l.take(ctx, "destination", to, l.cfg.PerDestination, len(msgs), now); err != nil || !ok {
		return false, "per-destination limit " + l.cfg.PerDestination.String() + " reached", err
	}
	if phone > 0 {
		code := CallingCode(to)
		lim, ok := l.cfg.Countries[code]
		if !ok {
			lim = l.cfg.PerCountry
		}
		if ok, err := l.take(ctx, "country", code, lim, phone, now); err != nil || !ok {
			return false, "limit " + lim.String() + " for country code +" + code + " reached", err
		}
	}
	return true, "", nil
}

// take adds n to the counter of key in the current window of lim and reports whether it stays within.
func (l *Limiter) take(ctx context.Context, scope, key string, lim Limit, n int, now time.Time) (bool, error) {
	if lim.Off() {
		return true, nil
	}
	if lim.Max == 0 {
		return false, nil
	}
	start := now.Truncate(lim.Window)
	id := fmt.Sprintf("%s:%s:%s:%d", scope, key, lim.Window, start.Unix())
	var doc struct {
		Count int `bson:"count"`
	}
	var err error
	for range 3 {
		err = l.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}},
			bson.D{
				{Key: "$inc", Value: bson.D{{Key: "count", Value: n}}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "expiresAt", Value: start.Add(lim.Window).UTC()}}},
			},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
		// A duplicate key: two first messages of a window raced to insert the counter and the other
		// one won; counting again finds it.
		if !mongox.IsDuplicateKey(err) {
			break
		}
	}
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return false, fmt.Errorf("count %s %s: %w", scope, key, err)
	}
	return doc.Count <= lim.Max, nil
}

// twoDigitCodes are the country calling codes of two digits; 1 and 7 are the one-digit ones and every
// other code has three (calling codes are prefix-free, so the first match is the code).
var twoDigitCodes = map[string]bool{
	"20": true, "27": true, "30": true, "31": true, "32": true, "33": true, "34": true, "36": true, "39": true,
	"40": true, "41": true, "43": true, "44": true, "45": true, "46": true, "47": true, "48": true, "49": true,
	"51": true, "52": true, "53": true, "54": true, "55": true, "56": true, "57": true, "58": true,
	"60": true, "61": true, "62": true, "63": true, "64": true, "65": true, "66": true,
	"81": true, "82": true, "84": true, "86": true, "90": true, "91": true, "92": true, "93": true, "94": true,
	"95": true, "98": true,
}

// CallingCode returns the country calling code of an E.164 number, without the '+': "+4915112345678"
// gives "49", "+15551234567" gives "1", "+23480..." gives "234".
func CallingCode(number string) string {
	digits := strings.TrimPrefix(strings.TrimSpace(number), "+")
	switch {
	case digits == "":
		return ""
	case digits[0] == '1' || digits[0] == '7':
		return digits[:1]
	case len(digits) >= 2 && twoDigitCodes[digits[:2]]:
		return digits[:2]
	case len(digits) >= 3:
		return digits[:3]
	}
	return digits
}
