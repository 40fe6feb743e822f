package replay

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// parseTarget checks a target base URL: http or https only, a host, no query or fragment.
// The base may carry a path prefix; the stored path of each delivery is appended to it.
func parseTarget(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, usagef("no target: give --target URL (or set public_url)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usagef("target %q is not a URL", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, usagef("target %s: only http and https targets are allowed", u.Redacted())
	}
	if u.Host == "" {
		return nil, usagef("target %s has no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("target %s: give a base URL without query or fragment", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// isLoopback says whether a target stays on this machine: localhost or a loopback address.
// Anything else may be production and needs a confirmation.
func isLoopback(u *url.URL) bool {
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// baseString is a target without a trailing slash, for joining with a request URI.
func baseString(u *url.URL) string { return strings.TrimRight(u.String(), "/") }

// newClient never follows a redirect: a delivery is for the URL the provider was told, and
// a redirect could carry a re-signed body to a host nobody chose.
func newClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
