package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// NotMe are the settings of the "this wasn't me" links in security alerts:
//
//	NOT_ME_URL []           the page the link opens (the token is appended as #token=nmt_...; the page
//	                        posts it to POST /api/v1/auth/not-me); empty: alerts carry no link
//	NOT_ME_LINK_TTL [168h]  how long a link works; 1h to 30 days
type NotMe struct {
	URL     string
	LinkTTL time.Duration
}

// loadNotMe reads the NotMe settings; a bad value is an error naming the variable.
func loadNotMe(l *config.Loader) (NotMe, []error) {
	n := NotMe{URL: strings.TrimSpace(l.String("NOT_ME_URL", "")), LinkTTL: l.Duration("NOT_ME_LINK_TTL", 7*24*time.Hour)}
	var errs []error
	if n.URL != "" {
		switch u, err := url.Parse(n.URL); {
		case err == nil && u.User != nil: // the value is not shown: it holds credentials
			errs = append(errs, fmt.Errorf("NOT_ME_URL: want an http(s) URL without user or password"))
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, fmt.Errorf("NOT_ME_URL=%q: want an http(s) URL or nothing", n.URL))
		}
	}
	if n.LinkTTL < time.Hour || n.LinkTTL > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("NOT_ME_LINK_TTL=%s: want 1h to 720h", n.LinkTTL))
	}
	return n, errs
}

func (n NotMe) logValue() slog.Attr {
	return slog.Group("not_me", slog.String("url", n.URL), slog.Duration("link_ttl", n.LinkTTL))
}
