package http

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/pixpool/pixpool"
)

// DNS rebinding: a page on attacker.example, whose name the attacker then
// points at 127.0.0.1, is same-origin with a pixpool listening there, so
// the browser's Origin and Sec-Fetch-Site say nothing against its calls.
// Only the Host header still names the attacker's domain. A browser keeps
// cookies by name, so such a page never carries a session of the victim's;
// what it can reach are the calls that need no credentials: the
// compatibility API under CompatUser. Those answer only for a known host
// (knownHost), and with Server.Hosts set nothing answers for another name.

// hostName returns the name of a Host header value: no port, no brackets
// around an IPv6 address, lower case, no trailing dot.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// localName reports whether name is one that no DNS answer can hand to
// another site: localhost, a name under .localhost (browsers resolve
// those to loopback themselves), or an IP address (rebinding needs a
// name).
func localName(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	_, err := netip.ParseAddr(name)
	return err == nil
}

// knownHost reports whether r is for one of s.Hosts or a local name. A
// request without Host (HTTP/1.0) does not come from a browser.
func (s *Server) knownHost(r *http.Request) bool {
	if r.Host == "" {
		return true
	}
	name := hostName(r.Host)
	if localName(name) {
		return true
	}
	for _, h := range s.Hosts {
		if hostName(h) == name {
			return true
		}
	}
	return false
}

// checkHosts refuses, when s.Hosts is set, every request for a name that
// is neither one of them nor local. Without s.Hosts it lets everything
// through (credential-less compatibility calls are checked in compatAuth)
// and logs once, at the first request for a name, how to close the rest.
func (s *Server) checkHosts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.knownHost(r) {
			if len(s.Hosts) > 0 {
				s.fail(w, r, pixpool.Errorf(pixpool.EFORBIDDEN,
					"This server does not answer for %q: it answers for %s, localhost and IP addresses (--host).", hostName(r.Host), strings.Join(s.Hosts, ", ")))
				return
			}
			s.hostHint.Do(func() {
				s.logger().Info("a request came for a host name; set --host to the names this server answers to, so that it refuses any other (DNS rebinding)", "host", hostName(r.Host))
			})
		}
		next.ServeHTTP(w, r)
	})
}

// errCompatHost answers a credential-less compatibility call for a name
// that is not known (knownHost).
func errCompatHost(r *http.Request) error {
	return pixpool.Errorf(pixpool.EFORBIDDEN,
		"Calls without credentials are answered only for localhost, IP addresses and the names given with --host, not for %q (a defence against DNS rebinding): use one of those, add the name to --host, or send an API key.", hostName(r.Host))
}
