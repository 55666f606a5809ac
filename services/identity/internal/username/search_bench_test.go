package username_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// BenchmarkSearch measures a search page over a few hundred accounts (FerretDB is slow on big
// collections; on MongoDB the query is two bounded index scans, see store.EnsureUsernameIndexes). Run
// with: go test -run '^$' -bench Search ./internal/username/
func BenchmarkSearch(b *testing.B) {
	w := newWorld(b)
	for i := range 300 {
		w.add(b, fmt.Sprintf("id%03d", i), fmt.Sprintf("user%03d", i), "First", fmt.Sprintf("Display %03d", i), account.StatusActive)
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		p, err := w.svc.Search(ctx, fmt.Sprintf("user%d", i%3), 1, 4)
		if err != nil || len(p.Users) != 4 {
			b.Fatalf("Search = %+v, %v", p, err)
		}
	}
}
