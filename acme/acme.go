// Package acme gives pixpool automatic HTTPS: it obtains certificates
// for its domains from an ACME CA (Let's Encrypt by default) and renews
// them, with certmagic. Everything it keeps (the ACME account, the
// certificates and their keys, the challenges under way) lives in the
// metadata store, so replicas sharing that store share one certificate,
// answer each other's challenges, and take turns, through leases, to order
// or renew it. See docs/https.md.
package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
)

// LetsEncrypt is the directory URL of Let's Encrypt's production CA, the
// default.
const LetsEncrypt = certmagic.LetsEncryptProductionCA

// Manager obtains and renews the certificates of Domains and serves them
// (TLSConfig), answers the CA's challenges, and redirects plain HTTP to
// HTTPS (HTTPHandler).
//
// Start does not wait for a certificate it must order: serving begins at
// once, and HTTPS handshakes for a domain fail until its certificate is
// there. A certificate already in the store is loaded before Start
// returns.
type Manager struct {
	// Domains to obtain a certificate for, one each.
	Domains []string
	// CA is the ACME directory URL. If empty, LetsEncrypt.
	CA string
	// Email is the ACME account's contact, for the CA's expiry and policy
	// notices; may be empty.
	Email string
	// CARoots verify the CA's own HTTPS; nil trusts the system's roots.
	CARoots *x509.CertPool
	// Store keeps the account, the certificates and the challenges.
	Store  Store
	Logger *slog.Logger

	// HTTPAddr is the address (host:port) this process answers plain HTTP
	// on, where HTTPHandler is served: HTTP-01 challenges and redirects.
	// Empty turns HTTP-01 off.
	HTTPAddr string
	// TLSAddr is the address of the HTTPS listener that uses TLSConfig,
	// which answers TLS-ALPN-01 challenges.
	TLSAddr string
	// NoTLSALPN turns the TLS-ALPN-01 challenge off (tests).
	NoTLSALPN bool

	// RenewCheck is how often certificates are checked for renewal, which
	// begins once a third of a certificate's lifetime is left. If zero,
	// 10 minutes.
	RenewCheck time.Duration
	// LockTTL and LockPoll set Storage's LeaseTTL and Poll.
	LockTTL, LockPoll time.Duration

	// Resolver looks domains up for the self-check; nil is the system's.
	Resolver *net.Resolver
	// CheckPort is the port the CA dials for HTTP-01, which the self-check
	// tries. If zero, 80.
	CheckPort int
	// CheckRetry is how long after a failed self-check it is tried again.
	// If zero, one minute.
	CheckRetry time.Duration
	// CheckTries is how many self-checks of a domain that resolves may
	// fail before its certificate is ordered anyway: this machine may be
	// unable to reach itself at its public address (NAT without
	// hairpinning, a load balancer that does not loop a target's
	// connections back to it) where the CA can. If zero, 3.
	CheckTries int

	storage  *Storage
	cache    *certmagic.Cache
	config   *certmagic.Config
	issuer   *certmagic.ACMEIssuer
	stop     context.CancelFunc
	obtained atomic.Int64
	renewed  atomic.Int64
}

// Start checks the domains, loads the certificates already in the store
// and begins to obtain the others in the background, and to renew them
// all, until ctx ends or Stop.
func (m *Manager) Start(ctx context.Context) error {
	if len(m.Domains) == 0 {
		return errors.New("acme: no domains")
	}
	for _, d := range m.Domains {
		if err := checkDomain(d); err != nil {
			return err
		}
	}
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	ctx, m.stop = context.WithCancel(ctx)
	zl := zapLogger(m.Logger.Handler())
	m.storage = &Storage{DB: m.Store, Logger: m.Logger, LeaseTTL: m.LockTTL, Poll: m.LockPoll}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.config, nil },
		RenewCheckInterval: m.RenewCheck,
		Logger:             zl,
	})
	m.config = certmagic.New(m.cache, certmagic.Config{
		Storage: m.storage,
		Logger:  zl,
		// No CA pixpool targets staples OCSP any longer (Let's Encrypt
		// ended OCSP in 2025), and pebble has no responder.
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		OnEvent: m.onEvent,
	})
	ca := m.CA
	if ca == "" {
		ca = LetsEncrypt
	}
	tmpl := certmagic.ACMEIssuer{
		CA:                      ca,
		Email:                   m.Email,
		Agreed:                  true,
		TrustedRoots:            m.CARoots,
		DisableHTTPChallenge:    m.HTTPAddr == "",
		DisableTLSALPNChallenge: m.NoTLSALPN,
		Logger:                  zl,
	}
	if ca != LetsEncrypt {
		// certmagic would retry a failing order against Let's Encrypt's
		// staging CA; with another CA there is none.
		tmpl.TestCA = ca
	}
	// The challenge listeners are this process's own (HTTPAddr and
	// TLSAddr): certmagic finds the ports taken and leaves them to us.
	var err error
	if tmpl.ListenHost, tmpl.AltTLSALPNPort, err = hostPort(m.TLSAddr); err != nil {
		return fmt.Errorf("acme: TLSAddr: %w", err)
	}
	if m.HTTPAddr != "" {
		if tmpl.ListenHost, tmpl.AltHTTPPort, err = hostPort(m.HTTPAddr); err != nil {
			return fmt.Errorf("acme: HTTPAddr: %w", err)
		}
	}
	m.issuer = certmagic.NewACMEIssuer(m.config, tmpl)
	m.config.Issuers = []certmagic.Issuer{m.issuer}

	due := false
	for _, d := range m.Domains {
		cert, err := m.config.CacheManagedCertificate(ctx, d)
		switch {
		case err == nil:
			m.Logger.Info("acme: certificate loaded from the store", "domain", d, "expires", cert.Leaf.NotAfter)
			// Served now; renewed by the cache's maintenance every
			// RenewCheck, and at once if it is due already (the server
			// was down a while).
			due = due || cert.NeedsRenewal(m.config)
		case errors.Is(err, fs.ErrNotExist):
			go m.obtain(ctx, d)
		default:
			// The store answered (it was opened), so the files are
			// most likely damaged (e.g. written by two replicas at once
			// after a lease ran out): say how to start afresh.
			prefix := certmagic.StorageKeys.CertsSitePrefix(m.issuer.IssuerKey(), d) + "/"
			return fmt.Errorf("acme: loading the certificate of %s: %w; if it is damaged, delete the rows of cert_files whose key starts with %q and start again: a new certificate is ordered", d, err, prefix)
		}
	}
	if due {
		go m.cache.RenewManagedCertificates(ctx)
	}
	return nil
}

// obtain checks that domain reaches this server, trying again every
// CheckRetry until it does, then has certmagic obtain its certificate, in
// the background, with retries.
func (m *Manager) obtain(ctx context.Context, domain string) {
	retry := m.CheckRetry
	if retry <= 0 {
		retry = time.Minute
	}
	tries := m.CheckTries
	if tries <= 0 {
		tries = 3
	}
	for failed := 0; ; {
		err := m.Check(ctx, domain)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		// A name that does not resolve cannot be validated; one that
		// does may be reachable from the Internet while not from here.
		if ce, ok := err.(*checkError); ok && ce.resolved {
			if failed++; failed >= tries {
				m.Logger.Warn("acme: ordering a certificate anyway after "+strconv.Itoa(failed)+" failed self-checks (this machine may not reach itself at its public address, behind NAT or a load balancer, where the CA can; its answer follows): "+err.Error(), "domain", domain)
				break
			}
		}
		m.Logger.Error("acme: no certificate ordered: "+err.Error()+"; checking again in "+retry.String(), "domain", domain)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
	m.Logger.Info("acme: obtaining a certificate", "domain", domain, "ca", m.issuer.CA)
	if err := m.config.ManageAsync(ctx, []string{domain}); err != nil {
		m.Logger.Error("acme: "+Explain(domain, err), "domain", domain)
	}
}

// onEvent logs certmagic's failures as sentences that say what to fix,
// and counts certificates obtained.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained":
		if renewal, _ := data["renewal"].(bool); renewal {
			m.renewed.Add(1)
		} else {
			m.obtained.Add(1)
		}
		m.Logger.Info("acme: certificate obtained", "domain", data["identifier"], "renewal", data["renewal"])
	case "cert_failed":
		err, _ := data["error"].(error)
		domain, _ := data["identifier"].(string)
		msg := "acme: " + Explain(domain, err)
		// A renewal failing for days must say that HTTPS is about to
		// break: every replica keeps serving the old certificate until
		// then.
		if left, ok := data["remaining"].(time.Duration); ok {
			if left > 0 {
				msg += "; the certificate in use expires in " + roughly(left) + ", when HTTPS for " + domain + " stops working"
			} else {
				msg += "; the certificate in use expired " + roughly(-left) + " ago: HTTPS for " + domain + " is failing"
			}
		}
		m.Logger.Error(msg+"; trying again later", "domain", domain, "renewal", data["renewal"])
	}
	return nil
}

// roughly is d in days and hours, or hours, or minutes: 1d12h.
func roughly(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// Serving reports whether a certificate for domain is being served.
func (m *Manager) Serving(domain string) bool {
	return m.cache != nil && len(m.cache.AllMatchingCertificates(domain)) > 0
}

// Obtained is the number of certificates this Manager has ordered and
// renewed (not those loaded from the store).
func (m *Manager) Obtained() (ordered, renewed int64) {
	return m.obtained.Load(), m.renewed.Load()
}

// Stop ends the renewals and the orders under way, and waits (a few
// seconds at most) for them to release their locks.
func (m *Manager) Stop() {
	if m.stop != nil {
		m.stop()
		m.cache.Stop()
		m.storage.wait(stopWait)
		// A job that has not let go of its lock by now may be stuck: stop
		// renewing its lease, so that another replica gets it once the
		// term runs out, and no goroutine outlives Stop.
		m.storage.stopRenewals()
		m.stop = nil
	}
}

// stopWait is how long Stop waits for the jobs under way to release
// their locks (tests shorten it).
var stopWait = 5 * time.Second

// TLSConfig serves the certificates, and the TLS-ALPN-01 challenges, to
// an HTTPS listener. It offers HTTP/2.
func (m *Manager) TLSConfig() *tls.Config {
	c := m.config.TLSConfig()
	c.NextProtos = append([]string{"h2", "http/1.1"}, acmez.ACMETLS1Protocol)
	c.MinVersion = tls.VersionTLS12
	return c
}

// HTTPHandler serves plain HTTP: the CA's HTTP-01 challenges (this
// process's or any replica's), the self-check, and a permanent redirect
// (308) to HTTPS for everything else, to a domain of Domains.
func (m *Manager) HTTPHandler() http.Handler {
	_, tlsPort, _ := hostPort(m.TLSAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.issuer.HandleHTTPChallenge(w, r) || m.serveCheck(w, r) {
			return
		}
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		// Only to a name of ours: the Host header is the client's to pick.
		if !slices.Contains(m.Domains, host) {
			host = m.Domains[0]
		}
		if tlsPort != 443 && tlsPort != 0 {
			host = net.JoinHostPort(host, strconv.Itoa(tlsPort))
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// hostPort splits addr; an empty host stays empty.
func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port of %q: %w", addr, err)
	}
	return host, port, nil
}

// checkDomain refuses what no ACME CA issues for by HTTP-01 or
// TLS-ALPN-01: IP addresses, wildcards, names that are not host names.
func checkDomain(d string) error {
	switch {
	case d == "":
		return errors.New("--domain: empty name")
	case net.ParseIP(d) != nil:
		return fmt.Errorf("--domain %s: an IP address cannot get a certificate this way; give a domain name that resolves to it", d)
	case strings.Contains(d, "*"):
		return fmt.Errorf("--domain %s: wildcard certificates need the DNS-01 challenge, which pixpool does not do; list each name instead", d)
	case strings.ContainsAny(d, "/: @") || !strings.Contains(d, ".") && d != "localhost":
		return fmt.Errorf("--domain %q is not a domain name (give photos.example.com)", d)
	case d == "localhost" || strings.HasSuffix(d, ".localhost"):
		return fmt.Errorf("--domain %s: a CA cannot reach localhost; give the machine's public domain name", d)
	}
	return nil
}
