// Package mongox connects the services to MongoDB and creates their indexes.
//
// The same code runs on MongoDB in production and on FerretDB v1 (SQLite) in tests and `make run`.
// FerretDB v1 answers TTL, partial, collation and hidden index options with NotImplemented (code
// 238); EnsureIndexes then creates the nearest index that does not change what the application may
// rely on, so the code that uses the collection must not depend on those options for correctness
// (for example, a query must itself skip expired documents rather than trust a TTL index to delete
// them).
package mongox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
)

// Timeouts applied by Connect and Ping.
const (
	// ServerSelectionTimeout bounds how long an operation waits for a usable server, so a MongoDB that
	// is down answers an error (a 503 with Retry-After) instead of hanging. A request makes at most
	// RequestBudget/ServerSelectionTimeout attempts to reach a MongoDB that is down before it fails
	// (e.g. a best-effort write and then its read), so it answers within RequestBudget.
	ServerSelectionTimeout = time.Second
	// RequestBudget is the longest a request waits for a MongoDB that is down: the fault tests hold
	// every service to it (two sequential server selections at most).
	RequestBudget = 2 * ServerSelectionTimeout
	// ConnectTimeout bounds one TCP connection attempt.
	ConnectTimeout = 5 * time.Second
	// PingTimeout bounds Ping when its context has no deadline.
	PingTimeout = 2 * time.Second
	// StartupTimeout is how long Connect keeps trying to reach a server when its context has no
	// earlier deadline (a pod starting beside a MongoDB that is still electing a primary).
	StartupTimeout = 5 * time.Second
)

// codeNotImplemented is the NotImplemented server error code (FerretDB's answer to index options it
// lacks); codeCommandNotSupported is CommandNotSupported.
const (
	codeNotImplemented      = 238
	codeCommandNotSupported = 115
)

// ClientOptions returns the driver's options for uri, exactly as the driver reads the URI (credentials,
// authSource, tls, tlsCAFile, tlsCertificateKeyFile, replicaSet, readPreference, w, mongodb+srv with
// its DNS lookup: nothing is rewritten); the timeouts of this package replace the URI's
// serverSelectionTimeoutMS and connectTimeoutMS.
// The uri is a secret: the error never includes it.
func ClientOptions(uri string) (*options.ClientOptions, error) {
	opts := options.Client().
		ApplyURI(uri).
		SetServerSelectionTimeout(ServerSelectionTimeout).
		SetConnectTimeout(ConnectTimeout).
		SetLoggerOptions(driverLogs())
	if err := opts.Validate(); err != nil {
		return nil, errors.New("invalid MONGODB_URI") // the parse error may quote the URI
	}
	return opts, nil
}

// Connect connects to the MongoDB at uri, checks the connection with a ping and returns the client and
// the named database. The uri is a secret: errors never include it.
func Connect(ctx context.Context, uri, database string) (*mongo.Client, *mongo.Database, error) {
	opts, err := ClientOptions(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to MongoDB: %w", err)
	}
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to MongoDB: %w", err)
	}
	// One ping waits at most ServerSelectionTimeout; keep trying for StartupTimeout.
	pctx, cancel := context.WithTimeout(ctx, StartupTimeout)
	defer cancel()
	for {
		err := client.Ping(pctx, readpref.Primary())
		if err == nil {
			break
		}
		if pctx.Err() != nil || !retryablePing(err) {
			_ = client.Disconnect(context.WithoutCancel(ctx))
			return nil, nil, fmt.Errorf("connect to MongoDB: ping: %w", err)
		}
		select {
		case <-pctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return client, client.Database(database), nil
}

// retryablePing reports whether a failed ping may succeed later (no server reachable yet), as opposed
// to a refusal such as failed authentication.
func retryablePing(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) {
		return false
	}
	return mongo.IsTimeout(err) || mongo.IsNetworkError(err) || strings.Contains(err.Error(), "server selection")
}

// Ping reports whether the server answers, for readiness checks. Without a deadline on ctx it waits at
// most PingTimeout.
func Ping(ctx context.Context, client *mongo.Client) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, PingTimeout)
		defer cancel()
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping MongoDB: %w", err)
	}
	return nil
}

// IsDuplicateKey reports whether err is a duplicate-key error (E11000) from an insert, an update or
// an upsert. FerretDB v1 (the local server) answers a unique-index clash on an update of an existing
// document (update, findAndModify) with an InternalError carrying SQLite's "UNIQUE constraint
// failed" instead of E11000; that answer counts as a duplicate key too.
func IsDuplicateKey(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCodeWithMessage(codeInternalError, "UNIQUE constraint failed")
}

// codeInternalError is the server's InternalError code.
const codeInternalError = 1

// EnsureIndexes creates the indexes on coll one by one; creating an index that already exists with the
// same definition is a no-op. When the server does not implement an index option, the index is created
// again without it, as far as that keeps the application correct:
//
//   - expireAfterSeconds (TTL): a plain index on the same key (expired documents stay; readers must
//     skip them, as they must anyway, since MongoDB deletes expired documents only once a minute);
//   - partialFilterExpression: an index on all documents, and not unique if it was (a unique index on
//     all documents would refuse writes the partial one allows);
//   - collation: the index with the binary comparison; uniqueness stays (it only gets looser);
//   - hidden: a visible index.
//
// Any other error is returned, wrapped with the collection and the index name.
func EnsureIndexes(ctx context.Context, coll *mongo.Collection, models ...mongo.IndexModel) error {
	for _, model := range models {
		if err := ensureIndex(ctx, coll, model); err != nil {
			return err
		}
	}
	return nil
}

func ensureIndex(ctx context.Context, coll *mongo.Collection, model mongo.IndexModel) error {
	name := indexName(model)
	for {
		_, err := coll.Indexes().CreateOne(ctx, model)
		if err == nil {
			return nil
		}
		if !isNotImplemented(err) {
			return fmt.Errorf("create index %s on %s.%s: %w", name, coll.Database().Name(), coll.Name(), err)
		}
		fallback, dropped, ok := withoutUnsupported(model, err)
		if !ok {
			return fmt.Errorf("create index %s on %s.%s: %w", name, coll.Database().Name(), coll.Name(), err)
		}
		slog.DebugContext(ctx, "index option not supported by the server; creating the index without it",
			"collection", coll.Database().Name()+"."+coll.Name(), "index", name, "dropped", dropped, "server_error", err.Error())
		model = fallback
	}
}

// isNotImplemented reports whether the server refused a command or option as not implemented.
func isNotImplemented(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Code == codeNotImplemented || ce.Code == codeCommandNotSupported) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not implemented") || strings.Contains(msg, "notimplemented")
}

// degradable lists the index options EnsureIndexes may drop, under the names servers use in errors.
var degradable = []string{"expireAfterSeconds", "partialFilterExpression", "collation", "hidden"}

// withoutUnsupported returns model without the options the error names (or, if it names none, without
// every degradable option the model has), and the names of what was dropped. ok is false when there is
// nothing left to drop.
func withoutUnsupported(model mongo.IndexModel, err error) (_ mongo.IndexModel, dropped []string, ok bool) {
	if model.Options == nil {
		return model, nil, false
	}
	present := map[string]bool{
		"expireAfterSeconds":      model.Options.ExpireAfterSeconds != nil,
		"partialFilterExpression": model.Options.PartialFilterExpression != nil,
		"collation":               model.Options.Collation != nil,
		"hidden":                  model.Options.Hidden != nil && *model.Options.Hidden,
	}
	var named []string
	for _, opt := range degradable {
		if present[opt] && strings.Contains(err.Error(), opt) {
			named = append(named, opt)
		}
	}
	if len(named) == 0 {
		for _, opt := range degradable {
			if present[opt] {
				named = append(named, opt)
			}
		}
	}
	if len(named) == 0 {
		return model, nil, false
	}

	o := *model.Options
	for _, opt := range named {
		switch opt {
		case "expireAfterSeconds":
			o.ExpireAfterSeconds = nil
		case "partialFilterExpression":
			o.PartialFilterExpression = nil
			if o.Unique != nil && *o.Unique {
				o.Unique = nil
				named = append(named, "unique")
			}
		case "collation":
			o.Collation = nil
		case "hidden":
			o.Hidden = nil
		}
	}
	model.Options = &o
	return model, named, true
}

// indexName returns the index's name: the one given in its options, or the one the server derives
// from its keys ("field_1_other_-1").
func indexName(model mongo.IndexModel) string {
	if model.Options != nil && model.Options.Name != nil {
		return *model.Options.Name
	}
	raw, err := bson.Marshal(model.Keys)
	if err != nil {
		return fmt.Sprintf("%v", model.Keys)
	}
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		return fmt.Sprintf("%v", model.Keys)
	}
	parts := make([]string, 0, 2*len(elems))
	for _, e := range elems {
		v := e.Value()
		var s string
		switch v.Type {
		case bsontype.Int32:
			s = strconv.Itoa(int(v.Int32()))
		case bsontype.Int64:
			s = strconv.FormatInt(v.Int64(), 10)
		case bsontype.Double:
			if f := v.Double(); f == math.Trunc(f) {
				s = strconv.Itoa(int(f))
			} else {
				s = strconv.FormatFloat(f, 'g', -1, 64)
			}
		case bsontype.String:
			s = v.StringValue()
		default:
			s = v.String()
		}
		parts = append(parts, e.Key(), s)
	}
	return strings.Join(parts, "_")
}
