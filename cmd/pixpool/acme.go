package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pixpool/pixpool/acme"
	"golang.org/x/net/idna"
)

// acmeConfig is the part of Config for automatic HTTPS (--domain).
type acmeConfig struct {
	Domains    string // name,...; "" is off
	ACMECA     string // directory URL; "" is acme.LetsEncrypt
	ACMEEmail  string
	ACMECARoot string // PEM file of roots for the CA's own HTTPS
	HTTPAddr   string // plain HTTP: HTTP-01 and redirects; "" is off

	// Tests shorten or redirect these; zero values are the defaults of
	// acme.Manager.
	ACMERenewCheck time.Duration // how often certificates are checked for renewal
	ACMEResolver   string        // DNS server (host:port) for the self-check; "" is the system's
	ACMECheckPort  int           // port the CA dials for HTTP-01; 0 is 80
	ACMENoTLSALPN  bool          // turns TLS-ALPN-01 off
	ACMECheckRetry time.Duration // wait after a failed self-check; 0 is a minute
}

func (c *acmeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Domains, "domain", "", "serve HTTPS for these domain names (comma-separated), with certificates obtained and renewed automatically by ACME (Let's Encrypt unless --acme-ca), kept in the metadata store so replicas share them; the names must resolve to this machine, which must be reachable on ports 80 and 443. Implies --addr :443, adds the names to --host, and accepts the CA's subscriber agreement")
	fs.StringVar(&c.ACMECA, "acme-ca", acme.LetsEncrypt, "ACME directory URL of the CA for --domain (e.g. Let's Encrypt's staging CA, https://acme-staging-v02.api.letsencrypt.org/directory, for trials)")
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact address given to the CA with --domain, for its notices about expiring certificates and policy changes (optional)")
	fs.StringVar(&c.ACMECARoot, "acme-ca-root", "", "PEM file of the root certificates to trust for the HTTPS of --acme-ca, for a private CA (default: the system's roots)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":80", "with --domain, plain HTTP address: answers the CA's HTTP-01 challenges and redirects everything else to https; empty turns it off (then only the TLS-ALPN-01 challenge on --addr, which must be port 443 to the Internet, can validate the domains)")
}

// acmeServer is the automatic HTTPS of a Main.
type acmeServer struct {
	manager  *acme.Manager
	httpLn   net.Listener // nil without --http-addr
	http     *nethttp.Server
	stopOnce sync.Once
}

// checkACMEFlags checks --domain against the other flags, after parsing,
// and makes --addr :443 unless given.
func checkACMEFlags(fs *flag.FlagSet, c *Config) error {
	if c.Domains == "" {
		return nil
	}
	if c.TLSCert != "" {
		return errors.New("--domain and --tls-cert exclude each other: --domain obtains its certificates itself; give one of them")
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "addr" })
	if _, env, _ := lookupEnv(envName("addr")); !given && !env {
		c.Addr = ":443"
	}
	_, err := domainNames(c.Domains)
	return err
}

// domainProfile checks a domain name as a lookup would, and its labels'
// lengths (none empty), as a CA does.
var domainProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true))

// domainNames reads --domain: lower-case names, each once.
func domainNames(list string) ([]string, error) {
	var out []string
	for v := range strings.SplitSeq(list, ",") {
		v = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(v), "."))
		if v == "" || slices.Contains(out, v) {
			continue
		}
		if strings.ContainsAny(v, "/: @") {
			return nil, fmt.Errorf("--domain: %q is not a domain name (give photos.example.com, not a URL)", v)
		}
		// The ASCII form (xn--...) of an internationalized name: what CAs
		// issue for, and browsers send in Host and SNI.
		a, err := domainProfile.ToASCII(v)
		if err != nil {
			return nil, fmt.Errorf("--domain: %q is not a valid domain name (%v)", v, err)
		}
		if slices.Contains(out, a) {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// openACME, with --domain, listens on --http-addr and starts obtaining
// and renewing the certificates; m.ln is listening already. The domains
// join --host's names.
func (m *Main) openACME(ctx context.Context) error {
	c := &m.Config
	if c.Domains == "" {
		return nil
	}
	if c.TLSCert != "" {
		return errors.New("--domain and --tls-cert exclude each other: --domain obtains its certificates itself; give one of them")
	}
	domains, err := domainNames(c.Domains)
	if err != nil {
		return err
	}
	for _, d := range domains {
		if !slices.Contains(m.HTTP.Hosts, d) {
			m.HTTP.Hosts = append(m.HTTP.Hosts, d)
		}
	}
	a := &acmeServer{manager: &acme.Manager{
		Domains:    domains,
		CA:         c.ACMECA,
		Email:      c.ACMEEmail,
		Store:      m.Store,
		Logger:     m.Logger,
		TLSAddr:    m.ln.Addr().String(),
		NoTLSALPN:  c.ACMENoTLSALPN,
		RenewCheck: c.ACMERenewCheck,
		CheckPort:  c.ACMECheckPort,
		CheckRetry: c.ACMECheckRetry,
	}}
	if c.ACMECARoot != "" {
		b, err := os.ReadFile(c.ACMECARoot)
		if err != nil {
			return fmt.Errorf("--acme-ca-root: %w", err)
		}
		a.manager.CARoots = x509.NewCertPool()
		if !a.manager.CARoots.AppendCertsFromPEM(b) {
			return fmt.Errorf("--acme-ca-root %s: no PEM certificate in it", c.ACMECARoot)
		}
	}
	if c.ACMEResolver != "" {
		a.manager.Resolver = dnsResolver(c.ACMEResolver)
	}
	if c.HTTPAddr != "" {
		if a.httpLn, err = net.Listen("tcp", c.HTTPAddr); err != nil {
			return listenError("--http-addr", err, "it answers the CA's HTTP-01 challenges; give another address, or empty to use TLS-ALPN-01 alone")
		}
		a.manager.HTTPAddr = a.httpLn.Addr().String()
	}
	m.acme = a
	if err := a.manager.Start(ctx); err != nil {
		return err
	}
	if a.httpLn != nil {
		a.http = &nethttp.Server{
			Handler:           a.manager.HTTPHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelDebug),
		}
		go a.http.Serve(a.httpLn)
	}
	m.Logger.Info("automatic HTTPS", "domains", strings.Join(domains, ","), "ca", a.manager.CA, "http", a.manager.HTTPAddr)
	return nil
}

// listenError says why listening on the address of flag failed and what
// to do; hint is what to do when the address is taken.
func listenError(flag string, err error, hint string) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%s: %w: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (docs/https.md)", flag, err)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: %w: another process listens there (%s)", flag, err, hint)
	}
	return fmt.Errorf("%s: %w", flag, err)
}

// serveACME serves HTTPS on m.ln with the managed certificates.
func (m *Main) serveACME() error {
	m.server.TLSConfig = m.acme.manager.TLSConfig()
	return m.server.ServeTLS(m.ln, "", "")
}

// stopACME stops the plain HTTP server and the renewals.
func (m *Main) stopACME() {
	if m.acme == nil {
		return
	}
	m.acme.stopOnce.Do(func() {
		if m.acme.http != nil {
			m.acme.http.Close()
		} else if m.acme.httpLn != nil {
			m.acme.httpLn.Close()
		}
		m.acme.manager.Stop()
	})
}

// acmeURL is the base URL with --domain: its first name, and the port if
// not 443.
func (m *Main) acmeURL() string {
	if m.acme == nil {
		return ""
	}
	_, port, _ := net.SplitHostPort(m.ln.Addr().String())
	host := m.acme.manager.Domains[0]
	if port != "443" {
		host = net.JoinHostPort(host, port)
	}
	return "https://" + host
}

// acmeSetupNote, printed under the setup link, says that the link works
// only once the certificate of its domain is there, if it is not yet.
func (m *Main) acmeSetupNote() string {
	if m.acme == nil {
		return ""
	}
	d := m.acme.manager.Domains[0]
	if m.acme.manager.Serving(d) {
		return ""
	}
	return "  The link works once the certificate for " + d + " is obtained (the log then says\n" +
		"  \"acme: certificate obtained\"); until then browsers cannot connect. If it takes more\n" +
		"  than the hour, restart for a new link.\n\n"
}

// hsts adds Strict-Transport-Security to HTTPS responses: browsers then
// use HTTPS for the host for two years, whatever link they follow.
// Not includeSubDomains: other hosts of the domain may not serve HTTPS.
// Not for localhost or an IP address (a trial with --tls-cert): browsers
// would force HTTPS on every local server, whatever its port, for as long.
func hsts(next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.TLS != nil && !localOrIP(r.Host) {
			w.Header().Set("Strict-Transport-Security", "max-age="+strconv.Itoa(2*365*24*3600))
		}
		next.ServeHTTP(w, r)
	})
}

// localOrIP reports whether the Host header host names localhost (or a
// name under it) or is an IP address.
func localOrIP(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil
}

// dnsResolver resolves with the DNS server at addr only.
func dnsResolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}
