package throttle

import (
	"fmt"
	"net/netip"
	"strings"
)

// AllowList is a set of client addresses (office NATs, a load tester) exempt from the per-IP limits.
// It never exempts anyone from a per-account limit. The zero value allows nobody.
type AllowList struct{ prefixes []netip.Prefix }

// ParseAllowList reads addresses and CIDR prefixes ("203.0.113.7", "198.51.100.0/24", "2001:db8::/32").
func ParseAllowList(entries []string) (AllowList, error) {
	var out AllowList
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "/") {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return AllowList{}, fmt.Errorf("%q: not an IP address or CIDR prefix", e)
			}
			out.prefixes = append(out.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return AllowList{}, fmt.Errorf("%q: not an IP address or CIDR prefix", e)
		}
		out.prefixes = append(out.prefixes, p.Masked())
	}
	return out, nil
}

// Contains reports whether ip (a client address as text) is on the list.
func (a AllowList) Contains(ip string) bool {
	if len(a.prefixes) == 0 {
		return false
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range a.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Len is the number of entries.
func (a AllowList) Len() int { return len(a.prefixes) }

// String lists the entries, comma-separated.
func (a AllowList) String() string {
	parts := make([]string, len(a.prefixes))
	for i, p := range a.prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}
