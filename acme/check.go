package acme

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mholt/acmez/v3/acme"
)

// checkPath starts the URL path of the self-check's tokens.
const checkPath = "/.well-known/pixpool-check/"

// checkKey is where a self-check token is kept while it is checked, so
// that any replica sharing the store answers it.
func checkKey(token string) string { return "pixpool/check/" + token }

// Check asks, over plain HTTP, whether domain reaches this server as the
// CA will: it resolves domain, fetches a random token from port 80 (or
// CheckPort) of the addresses it resolves to, and expects the token that
// this server (or a replica sharing its store) serves. Its error says what
// the domain resolves to and what to fix. Without HTTP-01 (HTTPAddr
// empty) it checks only that the domain resolves.
func (m *Manager) Check(ctx context.Context, domain string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res := m.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	addrs, err := res.LookupHost(ctx, domain)
	if err != nil || len(addrs) == 0 {
		return &checkError{fmt.Sprintf("%s does not resolve (%v): create a DNS A record (and AAAA for IPv6) for %s pointing at this machine's public address, then wait for it to be visible", domain, errText(err), domain), false}
	}
	where := strings.Join(addrs, ", ")
	if m.HTTPAddr == "" {
		return nil
	}
	port := m.CheckPort
	if port == 0 {
		port = 80
	}
	token := rand.Text()
	if err := m.Store.PutCertFile(ctx, checkKey(token), []byte(token)); err != nil {
		return fmt.Errorf("self-check of %s: %w", domain, err)
	}
	defer m.Store.DeleteCertFiles(context.WithoutCancel(ctx), checkKey(token))

	url := "http://" + net.JoinHostPort(domain, strconv.Itoa(port)) + checkPath + token
	if port == 80 {
		url = "http://" + domain + checkPath + token
	}
	// Every address: the CA may pick any of them (Let's Encrypt prefers
	// IPv6), so one left over from an old machine fails validation.
	var fails []string
	var first error
	for _, a := range addrs {
		err := fetchCheck(ctx, url, net.JoinHostPort(a, strconv.Itoa(port)), token)
		if err != nil {
			fails = append(fails, a)
			first = cmp.Or(first, err)
		}
	}
	var answered *wrongAnswer
	switch {
	case len(fails) == 0:
		return nil
	case len(fails) < len(addrs):
		return &checkError{fmt.Sprintf("%s resolves to %s, and port %d of %s did not answer as this server does (%v): the CA may use any of the addresses, so remove or fix the DNS records of %s that point elsewhere",
			domain, where, port, strings.Join(fails, ", "), errText(first), domain), true}
	case errors.As(first, &answered):
		return &checkError{fmt.Sprintf("%s resolves to %s, and port %d there answered, but not as this server does (%s for %s): the domain points at another machine, or a proxy there does not pass /.well-known/ on to this one; point the DNS records of %s at this machine",
			domain, where, port, answered.status, url, domain), true}
	}
	return &checkError{fmt.Sprintf("%s resolves to %s, but nothing answered on port %d there (%v): point the DNS records of %s at this machine, and let the Internet reach its port %d (--http-addr), which the CA uses to validate the domain",
		domain, where, port, errText(first), domain, port), true}
}

// wrongAnswer is a self-check's fetch answered, but not with the token.
type wrongAnswer struct{ status string }

func (e *wrongAnswer) Error() string { return "answered " + e.status + " without the token" }

// fetchCheck fetches url from addr (host:port), and expects token.
func fetchCheck(ctx context.Context, url, addr, token string) error {
	client := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				d := net.Dialer{Timeout: 5 * time.Second}
				return d.DialContext(ctx, network, addr)
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || string(body) != token {
		return &wrongAnswer{resp.Status}
	}
	return nil
}

// checkError is a failed self-check.
type checkError struct {
	text     string
	resolved bool // the domain resolved: the fetch failed
}

func (e *checkError) Error() string { return e.text }

// serveCheck answers a self-check's token request, if r is one.
func (m *Manager) serveCheck(w http.ResponseWriter, r *http.Request) bool {
	token, ok := strings.CutPrefix(r.URL.Path, checkPath)
	if !ok || r.Method != http.MethodGet || token == "" || strings.Contains(token, "/") {
		return false
	}
	b, err := m.Store.CertFile(r.Context(), checkKey(token))
	if err != nil {
		http.NotFound(w, r)
		return true
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
	return true
}

// errText is err's text for a message, its most useful part for the
// usual network errors.
func errText(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case err == nil:
		return "no addresses"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such host"
	case errors.As(err, &opErr) && opErr.Err != nil:
		return opErr.Err.Error()
	}
	return err.Error()
}

// Explain turns an error of certmagic's (from obtaining or renewing a
// certificate for domain), which often carries the CA's problem document,
// into a sentence that says what to do.
func Explain(domain string, err error) string {
	var p acme.Problem
	if !errors.As(err, &p) {
		return fmt.Sprintf("could not get a certificate for %s: %v", domain, err)
	}
	detail := p.Detail
	for _, sp := range p.Subproblems {
		detail += "; " + sp.Detail
	}
	types := []string{p.Type}
	for _, sp := range p.Subproblems {
		types = append(types, sp.Type)
	}
	has := func(t string) bool {
		for _, x := range types {
			if x == t {
				return true
			}
		}
		return false
	}
	lower := strings.ToLower(detail)
	unreachable := strings.Contains(lower, "connect") || strings.Contains(lower, "timeout") || strings.Contains(lower, "refused")
	var fix string
	switch {
	case has(acme.ProblemTypeDNS):
		fix = "the CA could not look the domain up: create its DNS A/AAAA records, pointing at this machine"
	case has(acme.ProblemTypeConnection), has(acme.ProblemTypeTLS),
		unreachable && (has(acme.ProblemTypeUnauthorized) || has(acme.ProblemTypeIncorrectResponse)):
		fix = "the CA could not connect to the domain: point its DNS records at this machine and let the Internet reach ports 80 (--http-addr) and 443 (--addr)"
	case has(acme.ProblemTypeUnauthorized), has(acme.ProblemTypeIncorrectResponse):
		fix = "the CA reached a server that did not answer its challenge as this one would: the domain points at another machine, or a proxy in front does not pass /.well-known/acme-challenge/ (port 80) or TLS (port 443) through"
	case has(acme.ProblemTypeCAA):
		fix = "the domain's CAA DNS records do not allow this CA: add one that does (e.g. 0 issue \"letsencrypt.org\")"
	case has(acme.ProblemTypeRateLimited):
		fix = "the CA's rate limit was reached: wait (the detail says until when); certificates are kept in the metadata store, so restarts and replicas do not order again"
	case has(acme.ProblemTypeRejectedIdentifier), has(acme.ProblemTypeUnsupportedIdentifier):
		fix = "the CA will not issue for this name: give a public domain name you own in --domain"
	case has(acme.ProblemTypeInvalidContact), has(acme.ProblemTypeUnsupportedContact):
		fix = "the CA refused the contact address: fix --acme-email"
	case has(acme.ProblemTypeExternalAccountRequired):
		fix = "this CA needs an external account binding, which pixpool does not support: use another CA"
	default:
		fix = "see the CA's detail"
	}
	return fmt.Sprintf("could not get a certificate for %s: %s (the CA said: %s)", domain, fix, detail)
}
