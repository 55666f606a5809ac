package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/mongox"
	"github.com/latchkey/latchkey/services/identity/internal/admin"
	"github.com/latchkey/latchkey/services/identity/internal/config"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

const adminUsage = `usage:
  identity admin grant  --email EMAIL --role admin|support
  identity admin revoke --email EMAIL --role admin|support

Gives or takes an operator role of the admin API (/api/v1/admin). Reads MONGODB_URI and
MONGODB_DATABASE like the service; needs no Kafka.
`

// runAdminCommand runs `identity admin ...` (args are what follows "admin") and returns the exit
// status: 0 done, 1 failed (unknown e-mail, database unreachable), 2 bad usage (unknown role or
// subcommand).
func runAdminCommand(ctx context.Context, args []string, env *platformconfig.Loader, out, errOut io.Writer) int {
	if len(args) == 0 || (args[0] != "grant" && args[0] != "revoke") {
		fmt.Fprint(errOut, adminUsage)
		return 2
	}
	fs := flag.NewFlagSet("identity admin "+args[0], flag.ContinueOnError)
	fs.SetOutput(errOut)
	email := fs.String("email", "", "the e-mail address of the account")
	role := fs.String("role", "", "admin or support")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if strings.TrimSpace(*email) == "" || fs.NArg() > 0 {
		fmt.Fprint(errOut, adminUsage)
		return 2
	}
	if _, err := admin.ParseRole(*role); err != nil {
		fmt.Fprintf(errOut, "identity admin %s: %v\n", args[0], err)
		return 2
	}
	uri := env.Secret("MONGODB_URI", "mongodb://127.0.0.1:27017")
	database := env.String("MONGODB_DATABASE", "latchkey_"+config.Service)
	if err := env.Err(); err != nil {
		fmt.Fprintf(errOut, "identity admin: configuration: %v\n", err)
		return 2
	}
	client, db, err := mongox.Connect(ctx, uri.Value(), database)
	if err != nil {
		fmt.Fprintf(errOut, "identity admin: %v\n", err)
		return 1
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()

	change := admin.Grant
	if args[0] == "revoke" {
		change = admin.Revoke
	}
	res, err := change(ctx, store.NewAccounts(db), *email, *role)
	switch {
	case errors.Is(err, admin.ErrUnknownAccount):
		fmt.Fprintf(errOut, "identity admin %s: no account has the email address %s\n", args[0], *email)
		return 1
	case err != nil:
		fmt.Fprintf(errOut, "identity admin %s: %v\n", args[0], err)
		return 1
	}
	what := map[string]string{"grant": "granted to", "revoke": "revoked from"}[args[0]]
	if !res.Changed {
		what = map[string]string{"grant": "already held by", "revoke": "not held by"}[args[0]]
	}
	r, _ := admin.ParseRole(*role)
	fmt.Fprintf(out, "%s %s account %s (%s); roles now: %s\n", r, what, res.AccountID, *email, strings.Join(res.Roles, ", "))
	return 0
}
