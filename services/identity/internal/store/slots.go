package store

import (
	"context"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// claimSlot inserts the first free document among prefix|1 … prefix|max and returns the slot number
// it got, or 0 when all are taken. taken is how many are believed taken already (a count read just
// before), so the usual case is one insert.
//
// This is how the service counts anything that must not be exceeded under concurrency (login
// attempts, codes sent, code tries, single use). FerretDB v1 runs an update — findAndModify and $inc
// included — as a read followed by a write, so two concurrent increments can both read 4 and both
// write 5. An insert into a unique _id, by contrast, is atomic on FerretDB and MongoDB alike.
func claimSlot(ctx context.Context, coll *mongo.Collection, prefix string, taken, max int, doc func(id string, slot int) bson.D) (int, error) {
	for slot := taken + 1; slot <= max; slot++ {
		_, err := coll.InsertOne(ctx, doc(prefix+"|"+strconv.Itoa(slot), slot))
		if err == nil {
			return slot, nil
		}
		if !mongox.IsDuplicateKey(err) {
			return 0, wrap("claim slot", err)
		}
	}
	return 0, nil
}
