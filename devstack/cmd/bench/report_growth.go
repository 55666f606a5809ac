package main

import (
	"fmt"
	"strings"
	"time"
)

// idleTarget is "near zero" for a service: at most 60 ms of CPU per minute, a tenth of a percent of
// one core.
const idleTarget = 60.0

// afterTolerance is the bound on the extra cost of an operation after the sign-ins.
const afterTolerance = 0.20

func (b *benchRun) reportIdle(p func(string, ...any)) {
	if b.idle.window == 0 {
		return
	}
	p("\n## Idle\n\n")
	p("CPU time of every process over %s in which nothing was asked of the stack, read after the set-up's registrations and %s to settle. Target for a service: near zero, at most %.0f ms of CPU per minute (%.1f%% of one core).\n\n",
		b.idle.window.Round(time.Second), idleSettle, idleTarget, idleTarget/600)
	after := b.idleAfter.window > 0
	if after {
		p("The same after the %s sign-ins below, once the stack had settled (*after*).\n\n", thousands(b.signedIn))
		p("| process | CPU ms per minute | %% of one core | after: CPU ms per minute | target |\n|---|---:|---:|---:|---|\n")
	} else {
		p("| process | CPU ms per minute | %% of one core | target |\n|---|---:|---:|---|\n")
	}
	for _, n := range procOrder {
		t := "—"
		worst := b.idle.perMinute(n)
		if after {
			worst = max(worst, b.idleAfter.perMinute(n))
		}
		if isService(n) {
			t = verdict(worst <= idleTarget, fmt.Sprintf("≤ %.0f ms/min", idleTarget))
		}
		if after {
			p("| %s | %.1f | %.3f | %.1f | %s |\n", n, b.idle.perMinute(n), b.idle.perMinute(n)/600, b.idleAfter.perMinute(n), t)
		} else {
			p("| %s | %.1f | %.3f | %s |\n", n, b.idle.perMinute(n), b.idle.perMinute(n)/600, t)
		}
	}
}

func (b *benchRun) reportAfter(p func(string, ...any)) {
	if len(b.after) == 0 {
		return
	}
	p("\n## After %s sign-ins\n\n", thousands(b.signedIn))
	p("The first four operations again, with the same accounts, after %s password sign-ins of %d other accounts (four at a time): every sign-in leaves a session, a device sign-in record, activity entries, outbox documents and throttle counters behind, so the collections those operations read are %s sign-ins bigger. ", thousands(b.signedIn), crowdSize, thousands(b.signedIn))
	p("The stack was left to settle for %s after the last sign-in (until all processes together were back to their idle CPU, three seconds in a row: the consumers had worked off the activity, session and alert events the sign-ins queued). ", b.settled.Round(time.Second))
	p("The bound is the issue's: at most %.0f%% more CPU per request than before, for the services and for the whole system.\n\n", afterTolerance*100)
	p("| operation | req/s before → after | p50 before → after | services CPU ms/req before → after | system CPU ms/req before → after | mongodb CPU ms/req before → after | within +%.0f%% |\n|---|---|---|---|---|---|---|\n", afterTolerance*100)
	for i, a := range b.after {
		r := b.results[i]
		ok := a.servicesCPU() <= scale(r.servicesCPU(), 1+afterTolerance) && a.systemCPU() <= scale(r.systemCPU(), 1+afterTolerance)
		p("| %s | %.0f → %.0f | %s → %s | %s → %s (%s) | %s → %s (%s) | %s → %s | %s |\n", r.name,
			rate(r), rate(a), ms(r.p50), ms(a.p50),
			ms(r.servicesCPU()), ms(a.servicesCPU()), change(r.servicesCPU(), a.servicesCPU()),
			ms(r.systemCPU()), ms(a.systemCPU()), change(r.systemCPU(), a.systemCPU()),
			ms(r.cpuPerRequest(procMongo)), ms(a.cpuPerRequest(procMongo)), mark(ok))
	}
	p("\nMongoDB commands per request after the sign-ins:\n\n")
	for _, a := range b.after {
		p("- **%s**: %s\n", a.name, a.topCommands(12))
	}
	for i, a := range b.after {
		r := b.results[i]
		if a.profile == "" || a.systemCPU() <= scale(r.systemCPU(), 1+afterTolerance) {
			continue
		}
		p("\nProfile of the embedded MongoDB-compatible server during **%s**:\n\n```\n%s```\n", a.name, trimProfile(a.profile))
	}
}

func (b *benchRun) reportGrowth(p func(string, ...any)) {
	if len(b.growthRows) == 0 {
		return
	}
	p("\n## How cost grows\n\n")
	p("Operations measured at several sizes of the data they work on. *slope* is the change of the system's CPU per request from the smallest to the largest size, per unit of size.\n\n")
	var order []string
	rows := map[string][]growthRow{}
	for _, g := range b.growthRows {
		if _, ok := rows[g.what]; !ok {
			order = append(order, g.what)
		}
		rows[g.what] = append(rows[g.what], g)
	}
	p("| operation | size | requests | errors | req/s | p50 | services CPU ms/req | mongodb CPU ms/req | system CPU ms/req |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, what := range order {
		for _, g := range rows[what] {
			r := g.r
			p("| %s | %s | %d | %d | %.0f | %s | %s | %s | %s |\n", g.what, g.size, r.requests, r.errors, rate(r), ms(r.p50), ms(r.servicesCPU()), ms(r.cpuPerRequest(procMongo)), ms(r.systemCPU()))
		}
	}
	p("\n")
	for _, what := range order {
		gs := rows[what]
		first, last := gs[0], gs[len(gs)-1]
		p("- **%s**", what)
		if len(gs) > 1 {
			n0, n1 := leadingNumber(first.size), leadingNumber(last.size)
			if n1 > n0 {
				perUnit := float64(last.r.systemCPU()-first.r.systemCPU()) / float64(time.Millisecond) / float64(n1-n0)
				p(" (%s → %s: system CPU %s → %s ms/req, %+.4f ms per %s)", first.size, last.size, ms(first.r.systemCPU()), ms(last.r.systemCPU()), perUnit, growthUnit[what])
			}
		}
		p(": %s\n", growthWhy[what])
	}
	if first := firstErrors(b.growthRows); first != "" {
		p("\nErrors: %s\n", first)
	}
}

// growthWhy says where the slope of each growth row comes from, on the embedded server and on MongoDB.
var growthWhy = map[string]string{
	"session list":    "the list is one indexed query for the account's unrevoked sessions (accountId, revokedAt), then a sort by last activity and a cap in the service; its cost follows the account's sessions (documents decoded, sorted and rendered), not the collection's size. On the embedded server the SQLite index on accountId narrows the read the same way MongoDB's compound index does, so the two grow alike.",
	"password login":  "a login finds the signing-in device among the account's trusted devices with one indexed query (accountId, deviceId); on MongoDB the compound index reaches the one device whatever their number. The embedded server narrows by the index's first field only (accountId) and checks deviceId on each of the account's devices, so a hundred devices cost it a little more, which MongoDB would not pay. argon2id, a fixed cost, dominates either way.",
	"username search": "the search is an anchored prefix on the username or the name's search terms ($or of two anchored regular expressions) plus a count for the total. MongoDB answers an anchored prefix from the username_unique and search_terms indexes, so its cost follows the matches; the embedded server cannot narrow a regular expression and reads every account, so this is the one row that grows with the number of accounts here and would not on MongoDB.",
	"token refresh":   "a refresh reads its session by _id and rotates it with one conditional update by _id: both are index lookups on MongoDB and, with the patched embedded server, on SQLite too, so the number of sessions does not matter.",
}

func leadingNumber(s string) int {
	n := 0
	for _, c := range strings.ReplaceAll(s, ",", "") {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// growthUnit is what the size of each growth row counts.
var growthUnit = map[string]string{
	"session list": "session", "password login": "trusted device", "username search": "account", "token refresh": "session",
}

func firstErrors(gs []growthRow) string {
	for _, g := range gs {
		if g.r.firstErr != nil {
			return fmt.Sprintf("%s (%s): %d errors, first `%s`", g.what, g.size, g.r.errors, oneLine(g.r.firstErr.Error()))
		}
	}
	return ""
}

func rate(r opResult) float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

func scale(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

func change(before, after time.Duration) string {
	if before <= 0 {
		return "—"
	}
	return fmt.Sprintf("%+.0f%%", (float64(after)/float64(before)-1)*100)
}
