package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// CollAccountLocks holds short leases that serialize changes of one account which, checked and
// applied separately, could together break an invariant no single document holds: today, that an
// account keeps at least one way to sign in (its password and its linked providers live in
// different documents, and there are no transactions).
const CollAccountLocks = "account_locks"

// Lease timing: a lease outlives any unlink by far, and a crashed holder's lease is taken over once
// it has run out.
const (
	signInLockLease = 15 * time.Second
	signInLockWait  = 5 * time.Second
	signInLockPoll  = 10 * time.Millisecond
)

// ErrLockBusy is a lease that stayed held for longer than a caller waits. It is returned wrapped with
// ErrUnavailable: the client is told to try again later (503).
var ErrLockBusy = errors.New("account is being changed concurrently")

type lockDoc struct {
	ID    string    `bson:"_id"`
	Owner string    `bson:"owner"`
	Until time.Time `bson:"until"`
}

// LockSignInMethods takes the account's sign-in-method lease, waiting while another change holds it,
// and returns its release. Of two changes that each remove one of an account's last two sign-in
// methods, the second sees the first's result: the check and the removal happen under the lease.
// The insert of a document keyed by the account is the decision, atomic on every server.
func (s *Providers) LockSignInMethods(ctx context.Context, accountID string) (release func(), err error) {
	locks := s.coll.Database().Collection(CollAccountLocks)
	var b [16]byte
	_, _ = rand.Read(b[:])
	doc := lockDoc{ID: "signin-methods:" + accountID, Owner: hex.EncodeToString(b[:])}
	deadline := time.Now().Add(signInLockWait)
	for {
		now := time.Now().UTC()
		doc.Until = now.Add(signInLockLease)
		_, err := locks.InsertOne(ctx, doc)
		if err == nil {
			return func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_, _ = locks.DeleteOne(rctx, bson.D{{Key: "_id", Value: doc.ID}, {Key: "owner", Value: doc.Owner}})
			}, nil
		}
		if !mongox.IsDuplicateKey(err) {
			return nil, wrap("take sign-in method lock", err)
		}
		// Held: take it over if its holder died without releasing it, else wait.
		if _, err := locks.DeleteOne(ctx, bson.D{{Key: "_id", Value: doc.ID}, {Key: "until", Value: bson.D{{Key: "$lt", Value: now}}}}); err != nil {
			return nil, wrap("clear expired sign-in method lock", err)
		}
		if now.After(deadline) {
			return nil, fmt.Errorf("sign-in methods of account %s: %w: %w", accountID, ErrUnavailable, ErrLockBusy)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(signInLockPoll):
		}
	}
}
