package main

import "github.com/latchkey/latchkey/services/identity/internal/auth"

// accountErasers lists identity's stores outside internal/store that keep data keyed by account and
// must go with it when the deletion worker erases an account: the activity log (its EraseAccount
// folds the entries into anonymous counts), exports (account_exports, by accountId) and the "not
// me" links (by accountId). Each implements auth.AccountEraser; main passes them as they are built.
// The worker calls them after identity's own collections and before the account document goes, so
// a failure is retried with the account still due.
func accountErasers(stores ...auth.AccountEraser) []auth.AccountEraser { return stores }
