// Copyright 2026 The Latchkey Authors. Licensed under the Apache License, Version 2.0 (see LICENSE at
// the root of this module). This file is Latchkey's addition to FerretDB v1.24.2; see
// third_party/ferretdb/LATCHKEY.md for why and what it changes.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// prepareWhereClause returns a WHERE clause that selects a superset of the documents matching
// filter, using SQLite's indexes, or "" when it cannot narrow the scan.
//
// Upstream FerretDB v1 narrows only a filter that is exactly {_id: <string or ObjectID>} and reads
// (and decodes) the whole table for every other filter. Every caller re-applies the complete filter
// to what the query returns (find, count, update, delete, findAndModify, aggregate's $match), so the
// clause only has to be a superset; it never decides a match. This narrows three more shapes:
//
//   - _id equality, alone or next to other conditions ({_id: v, state: ...}: conditional updates),
//     through the _id index;
//   - _id: {$in: [strings or ObjectIDs]};
//   - a top-level string equality on the first field of one of the collection's indexes, through
//     that index's expression (_ferretdb_sjson->"field"). MongoDB's {field: "x"} also matches an
//     array containing "x", which an expression index does not see, so documents whose field is an
//     array are always included (their JSON text sorts between "[" and "\").
func prepareWhereClause(meta *metadata.Collection, filter *types.Document) (string, []any) {
	if filter.Len() == 0 {
		return "", nil
	}

	if v, err := filter.Get("_id"); err == nil {
		switch v := v.(type) {
		case string, types.ObjectID:
			return fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn), []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			if clause, args := idInClause(v); clause != "" {
				return clause, args
			}
		}
	}

	for _, key := range filter.Keys() {
		if strings.HasPrefix(key, "$") || strings.Contains(key, ".") || key == "_id" || !leadsAnIndex(meta, key) {
			continue
		}

		s, ok := must.NotFail(filter.Get(key)).(string)
		if !ok || !plainJSONString(s) {
			continue
		}

		expr := fmt.Sprintf("%s->%q", metadata.DefaultColumn, key) // as metadata.Registry creates the index
		clause := fmt.Sprintf(` WHERE (%[1]s = ? OR (%[1]s >= '[' AND %[1]s < '\'))`, expr)

		return clause, []any{string(must.NotFail(sjson.MarshalSingleValue(s)))}
	}

	return "", nil
}

// idInClause returns the clause for {$in: [...]} of strings and ObjectIDs, or "".
func idInClause(cond *types.Document) (string, []any) {
	if cond.Len() != 1 {
		return "", nil
	}

	v, err := cond.Get("$in")
	if err != nil {
		return "", nil
	}

	arr, ok := v.(*types.Array)
	if !ok || arr.Len() == 0 || arr.Len() > 1000 {
		return "", nil
	}

	args := make([]any, 0, arr.Len())

	for i := 0; i < arr.Len(); i++ {
		switch e := must.NotFail(arr.Get(i)).(type) {
		case string, types.ObjectID:
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(e))))
		default:
			return "", nil
		}
	}

	placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")

	return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, placeholders), args
}

// leadsAnIndex reports whether field is the first key of one of the collection's indexes.
func leadsAnIndex(meta *metadata.Collection, field string) bool {
	for _, index := range meta.Settings.Indexes {
		if len(index.Key) > 0 && index.Key[0].Field == field {
			return true
		}
	}

	return false
}

// plainJSONString reports whether s is encoded in JSON as itself between quotes, whichever encoder
// wrote the stored document: printable ASCII without quotes, backslashes or the characters Go's
// encoder escapes for HTML. Other strings are not pushed down (the query stays correct, only slower).
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}

	return true
}
