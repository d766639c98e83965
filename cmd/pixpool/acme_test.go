package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixpool/pixpool/childenv"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/store/sqlite"
)

// The ACME tests run pebble, a real ACME server, on loopback: it resolves
// every name to 127.0.0.1 and validates HTTP-01 and TLS-ALPN-01 by
// dialing the ports it was given, where the server under test listens.

// acmeTimeout bounds the wait for a certificate; pebble issues in well
// under a second here.
const acmeTimeout = 30 * time.Second

// acmeLog is a log destination tests can read while it is written.
type acmeLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *acmeLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	testLogOut.Write(p)
	return b.buf.Write(p)
}

func (b *acmeLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// acmeEnv is pebble and the ports it dials.
type acmeEnv struct {
	pebble            *pixpooltest.Pebble
	httpPort, tlsPort int
	roots             *x509.CertPool // of the certificates pebble issues
}

func newACMEEnv(t *testing.T, validity time.Duration) *acmeEnv {
	t.Helper()
	e := &acmeEnv{httpPort: pixpooltest.FreeTCPPort(t), tlsPort: pixpooltest.FreeTCPPort(t)}
	e.pebble = pixpooltest.StartPebble(t, pixpooltest.PebbleConfig{HTTPPort: e.httpPort, TLSPort: e.tlsPort, Validity: validity})
	e.roots = e.pebble.IssuerRoots(t)
	return e
}

// config returns a serve configuration for domain on the ports pebble
// dials.
func (e *acmeEnv) config(t *testing.T, domain string) Config {
	return Config{
		Data:          t.TempDir(),
		Addr:          "127.0.0.1:" + strconv.Itoa(e.tlsPort),
		MaxUpload:     1 << 20,
		AdminPassword: "adminpass1",
		SessionTTL:    time.Hour,
		acmeConfig: acmeConfig{
			Domains:        domain,
			ACMECA:         e.pebble.Directory,
			ACMECARoot:     e.pebble.CARootFile,
			HTTPAddr:       "127.0.0.1:" + strconv.Itoa(e.httpPort),
			ACMEResolver:   e.pebble.DNS,
			ACMECheckPort:  e.httpPort,
			ACMECheckRetry: 200 * time.Millisecond,
		},
	}
}

// acmeOtherPorts moves c to free ports pebble does not dial: a second replica.
func acmeOtherPorts(t *testing.T, c Config) Config {
	c.Addr = "127.0.0.1:" + strconv.Itoa(pixpooltest.FreeTCPPort(t))
	c.HTTPAddr = "127.0.0.1:" + strconv.Itoa(pixpooltest.FreeTCPPort(t))
	return c
}

// acmeTestServer is a serve with --domain running in the test.
type acmeTestServer struct {
	*Main
	log  *acmeLog
	stop func() error
}

// startACME opens and runs serve with c until the test ends.
func startACME(t *testing.T, c Config) *acmeTestServer {
	t.Helper()
	s, err := openACMETest(t, c)
	if err != nil {
		t.Fatal(err)
	}
	s.run(t)
	return s
}

func openACMETest(t *testing.T, c Config) (*acmeTestServer, error) {
	log := &acmeLog{}
	m := &Main{Config: c, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", log)
		}
	})
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		return nil, err
	}
	m.Accounts.Password = pixpooltest.CheapPasswords
	return &acmeTestServer{Main: m, log: log}, nil
}

func (s *acmeTestServer) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { s.stop() })
}

// acmeClient reaches domain at addr, trusting roots only.
func acmeClient(addr, domain string, roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: domain},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// servedCert returns the certificate s serves for domain, verified against
// roots, or an error.
func servedCert(s *Main, domain string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.ln.Addr().String(),
		&tls.Config{RootCAs: roots, ServerName: domain})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitCert waits for s to serve a certificate for domain that roots
// verify, and returns it.
func waitCert(t *testing.T, s *Main, domain string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	var cert *x509.Certificate
	var err error
	deadline := time.Now().Add(acmeTimeout)
	for {
		if cert, err = servedCert(s, domain, roots); err == nil {
			return cert
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate for %s within %v: %v", domain, acmeTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestACME_HTTP01 obtains a certificate over HTTP-01 alone, serves HTTPS
// with it (HSTS, Secure cookies), and redirects plain HTTP.
func TestACME_HTTP01(t *testing.T) {
	e := newACMEEnv(t, 0)
	c := e.config(t, "photos.test,www.photos.test")
	c.ACMENoTLSALPN = true
	s := startACME(t, c)
	if got, want := s.URL(), "https://photos.test:"+strconv.Itoa(e.tlsPort); got != want {
		t.Fatalf("URL()=%q, want %q", got, want)
	}
	for _, d := range []string{"photos.test", "www.photos.test"} {
		cert := waitCert(t, s.Main, d, e.roots)
		if err := cert.VerifyHostname(d); err != nil {
			t.Fatal(err)
		}
	}
	if ordered, _ := s.acme.manager.Obtained(); ordered != 2 {
		t.Fatalf("ordered %d certificates, want 2", ordered)
	}
	if note := s.acmeSetupNote(); note != "" {
		t.Errorf("setup note %q with the certificate there, want none", note)
	}

	// A handshake for a name not in --domain orders nothing (no
	// on-demand issuance): certmagic would order during the handshake.
	if conn, err := tls.Dial("tcp", s.ln.Addr().String(), &tls.Config{ServerName: "evil.photos.test", InsecureSkipVerify: true}); err == nil {
		conn.Close()
	}
	if ordered, _ := s.acme.manager.Obtained(); ordered != 2 {
		t.Fatalf("ordered %d certificates after a handshake for another name, want 2", ordered)
	}
	if files, err := s.Store.CertFiles(t.Context(), ""); err != nil {
		t.Fatal(err)
	} else {
		for _, f := range files {
			if strings.Contains(f.Key, "evil") {
				t.Fatalf("the store holds %s after a handshake for another name", f.Key)
			}
		}
	}
	if !strings.Contains(s.log.String(), "challenge=http-01") {
		t.Errorf("no http-01 challenge in the log")
	}

	client := acmeClient(s.ln.Addr().String(), "photos.test", e.roots)
	resp, err := client.Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Fatalf("Strict-Transport-Security=%q, want max-age=...", got)
	}

	// A login's session cookie is Secure without --secure-cookies.
	resp, err = client.PostForm(s.URL()+"/login", url.Values{"username": {"admin"}, "password": {"adminpass1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) == 0 {
		t.Fatalf("POST /login: %s, no cookie", resp.Status)
	}
	for _, ck := range resp.Cookies() {
		if !ck.Secure {
			t.Errorf("cookie %s is not Secure", ck.Name)
		}
	}

	// Plain HTTP redirects to HTTPS, keeping the path and query, for a
	// name of ours only.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]string{
		"www.photos.test": "https://www.photos.test:" + strconv.Itoa(e.tlsPort) + "/images?page=2",
		"evil.example":    "https://photos.test:" + strconv.Itoa(e.tlsPort) + "/images?page=2",
	} {
		req, _ := http.NewRequest("GET", "http://"+c.HTTPAddr+"/images?page=2", nil)
		req.Host = host
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Fatalf("plain GET for %s: %s to %q, want 308 to %q", host, resp.Status, resp.Header.Get("Location"), want)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
			t.Fatalf("plain GET: Strict-Transport-Security=%q, want none over plain HTTP", got)
		}
	}
}

// TestACME_TLSALPN obtains a certificate over TLS-ALPN-01 alone: no
// plain HTTP listener at all.
func TestACME_TLSALPN(t *testing.T) {
	e := newACMEEnv(t, 0)
	c := e.config(t, "photos.test")
	c.HTTPAddr = ""
	s := startACME(t, c)
	waitCert(t, s.Main, "photos.test", e.roots)
	if !strings.Contains(s.log.String(), "challenge=tls-alpn-01") {
		t.Errorf("no tls-alpn-01 challenge in the log")
	}
	resp, err := acmeClient(s.ln.Addr().String(), "photos.test", e.roots).Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}
}

// TestACME_Renewal renews a short-lived certificate while serving: the
// server hands out the new one without a restart.
func TestACME_Renewal(t *testing.T) {
	// Renewal starts when a third of the lifetime is left: after 10 s.
	e := newACMEEnv(t, 15*time.Second)
	c := e.config(t, "photos.test")
	c.ACMERenewCheck = 500 * time.Millisecond
	s := startACME(t, c)
	first := waitCert(t, s.Main, "photos.test", e.roots)
	waitFor(t, acmeTimeout, "a renewed certificate", func() bool {
		cert, err := servedCert(s.Main, "photos.test", e.roots)
		return err == nil && cert.SerialNumber.Cmp(first.SerialNumber) != 0 && cert.NotAfter.After(first.NotAfter)
	})
	if _, renewed := s.acme.manager.Obtained(); renewed == 0 {
		t.Fatal("served a new certificate, but none was renewed")
	}
}

// TestACME_RenewAtStart restarts a server whose stored certificate fell
// due for renewal while it was down: it serves that one at once and
// renews it without waiting for the next renewal check.
func TestACME_RenewAtStart(t *testing.T) {
	e := newACMEEnv(t, 15*time.Second)
	c := e.config(t, "photos.test")
	c.ACMERenewCheck = time.Hour // no renewal by the periodic check
	a := startACME(t, c)
	first := waitCert(t, a.Main, "photos.test", e.roots)
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	// Due once a third of its lifetime is left.
	time.Sleep(time.Until(first.NotBefore.Add(first.NotAfter.Sub(first.NotBefore) * 2 / 3).Add(500 * time.Millisecond)))

	b := startACME(t, c)
	if cert, err := servedCert(b.Main, "photos.test", e.roots); err != nil || cert.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("at start, served %v, %v, want the stored certificate at once", cert, err)
	}
	waitFor(t, acmeTimeout, "a renewed certificate", func() bool {
		cert, err := servedCert(b.Main, "photos.test", e.roots)
		return err == nil && cert.SerialNumber.Cmp(first.SerialNumber) != 0
	})
}

// TestACME_SecondReplica starts a replica on the store of one that
// obtained a certificate: it serves that certificate, and orders none.
func TestACME_SecondReplica(t *testing.T) {
	e := newACMEEnv(t, 0)
	c := e.config(t, "photos.test")
	a := startACME(t, c)
	certA := waitCert(t, a.Main, "photos.test", e.roots)

	b, err := openACMETest(t, acmeOtherPorts(t, c))
	if err != nil {
		t.Fatal(err)
	}
	b.run(t)
	// Loaded before Open returned: served at once.
	certB, err := servedCert(b.Main, "photos.test", e.roots)
	if err != nil {
		t.Fatal(err)
	}
	if certB.SerialNumber.Cmp(certA.SerialNumber) != 0 {
		t.Fatalf("replica serves serial %x, want the first one's %x", certB.SerialNumber, certA.SerialNumber)
	}
	if ordered, renewed := b.acme.manager.Obtained(); ordered+renewed != 0 {
		t.Fatalf("the second replica ordered %d and renewed %d certificates, want none", ordered, renewed)
	}
}

// TestACME_ReplicasAtOnce starts two replicas on one store at once: one
// certificate is ordered, and both serve it. On SQLite and on PostgreSQL,
// whose leases go by the server's clock.
func TestACME_ReplicasAtOnce(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		replicasAtOnce(t, func(c *Config) {
			// Two processes creating the SQLite file at once collide
			// (SQLITE_BUSY); that race is not the one under test.
			db, err := sqlite.Open(filepath.Join(c.Data, "pixpool.db"))
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
		if err != nil {
			t.Fatal(err)
		}
		replicasAtOnce(t, func(c *Config) { c.DB = dsn })
	})
}

func replicasAtOnce(t *testing.T, store func(*Config)) {
	e := newACMEEnv(t, 0)
	c := e.config(t, "photos.test")
	c.ACMENoTLSALPN = true // pebble dials the first one's ports only
	store(&c)
	configs := []Config{c, acmeOtherPorts(t, c)}
	// Two replicas creating the admin account at once collide on its
	// name (ECONFLICT); that race is not the one under test.
	configs[1].AdminPassword = ""
	servers := make([]*acmeTestServer, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range servers {
		wg.Go(func() { servers[i], errs[i] = openACMETest(t, configs[i]) })
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		s.run(t)
	}
	a := waitCert(t, servers[0].Main, "photos.test", e.roots)
	b := waitCert(t, servers[1].Main, "photos.test", e.roots)
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Fatalf("replicas serve serials %x and %x, want one certificate", a.SerialNumber, b.SerialNumber)
	}
	oa, _ := servers[0].acme.manager.Obtained()
	ob, _ := servers[1].acme.manager.Obtained()
	if oa+ob != 1 {
		t.Fatalf("replicas ordered %d and %d certificates, want 1 in all", oa, ob)
	}
}

// TestACME_OtherProcessAnswers has the CA's challenges, and the
// self-check, answered by a replica in another process, which finds them
// in the shared store: the one that orders is not the one the CA (or the
// load balancer) reaches. (Replicas in one process would share certmagic's
// in-memory challenges.)
func TestACME_OtherProcessAnswers(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			e := newACMEEnv(t, 0)
			c := e.config(t, "photos.test")
			// The other process, on the ports pebble dials. Its own
			// self-check cannot resolve photos.test, so it orders nothing.
			var out acmeLog
			cmd := exec.Command(os.Args[0], "serve", "--data", c.Data, "--addr", c.Addr, "--http-addr", c.HTTPAddr,
				"--domain", "photos.test", "--acme-ca", c.ACMECA, "--acme-ca-root", c.ACMECARoot,
				"--cache-size", "0", "--analyze=false", "--log-level", "debug")
			cmd.Env = childenv.Env(nil)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Signal(os.Interrupt)
				cmd.Wait()
				if t.Failed() {
					t.Logf("the other process's log:\n%s", &out)
				}
			})
			waitFor(t, 10*time.Second, "the other process listening", func() bool {
				conn, err := net.Dial("tcp", c.HTTPAddr)
				if err == nil {
					conn.Close()
				}
				return err == nil
			})

			c = acmeOtherPorts(t, c)
			if challenge == "tls-alpn-01" {
				c.HTTPAddr = "" // no HTTP-01, and a self-check of the name alone
			} else {
				c.ACMENoTLSALPN = true
			}
			c.AdminPassword = ""
			s := startACME(t, c)
			cert := waitCert(t, s.Main, "photos.test", e.roots)
			if err := cert.VerifyHostname("photos.test"); err != nil {
				t.Fatal(err)
			}
			if ordered, _ := s.acme.manager.Obtained(); ordered != 1 {
				t.Fatalf("ordered %d certificates, want 1", ordered)
			}
			answered := false
			for line := range strings.Lines(out.String()) {
				answered = answered || strings.Contains(line, "challenge="+challenge+" ") && strings.Contains(line, "distributed=true")
			}
			if !answered {
				t.Fatalf("the other process's log shows no distributed %s answer", challenge)
			}
		})
	}
}

// TestACME_DomainElsewhere gives a domain that resolves to another
// address: serve starts, orders nothing at first, and says what is wrong.
func TestACME_DomainElsewhere(t *testing.T) {
	e := newACMEEnv(t, 0)
	e.pebble.SetA(t, "elsewhere.test", "127.0.0.2")
	c := e.config(t, "elsewhere.test")
	c.AdminPassword = ""
	s := startACME(t, c)
	// The setup link, printed before the certificate exists, says that it
	// will not work until it does.
	if s.SetupURL == "" || !strings.Contains(s.acmeSetupNote(), "The link works once the certificate for elsewhere.test is obtained") {
		t.Errorf("SetupURL %q, note %q: want a note that the link works once the certificate is there", s.SetupURL, s.acmeSetupNote())
	}
	want := "elsewhere.test resolves to 127.0.0.2, but nothing answered on port " + strconv.Itoa(e.httpPort)
	waitFor(t, acmeTimeout, "the self-check's error in the log", func() bool { return strings.Contains(s.log.String(), want) })
	if ordered, _ := s.acme.manager.Obtained(); ordered != 0 {
		t.Fatalf("ordered %d certificates, want none", ordered)
	}
	// The server answers meanwhile: plain HTTP redirects to HTTPS.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := plain.Get("http://" + s.Config.HTTPAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect {
		t.Fatalf("plain GET /: %s, want 308", resp.Status)
	}
}

// TestACME_OrdersWhenItCannotReachItself has the self-check fail while
// the CA reaches the server (a machine behind NAT without hairpinning, or
// a target of a load balancer that does not loop its connections back):
// after a few tries serve orders anyway, and gets its certificate.
func TestACME_OrdersWhenItCannotReachItself(t *testing.T) {
	e := newACMEEnv(t, 0)
	c := e.config(t, "photos.test")
	c.ACMECheckPort = pixpooltest.FreeTCPPort(t) // where the self-check finds nothing
	c.ACMENoTLSALPN = true
	s := startACME(t, c)
	cert := waitCert(t, s.Main, "photos.test", e.roots)
	if err := cert.VerifyHostname("photos.test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.log.String(), "ordering a certificate anyway after 3 failed self-checks") {
		t.Error("the log does not say the certificate was ordered despite the self-check")
	}
}

// TestACME_SelfCheckTriesEveryAddress gives a domain two addresses, one
// of them not this server's (a record left over from an old machine):
// the self-check names it, since the CA may validate through either.
func TestACME_SelfCheckTriesEveryAddress(t *testing.T) {
	e := newACMEEnv(t, 0)
	e.pebble.SetA(t, "split.test", "127.0.0.1", "127.0.0.2")
	s := startACME(t, e.config(t, "split.test"))
	want := "port " + strconv.Itoa(e.httpPort) + " of 127.0.0.2 did not answer as this server does"
	waitFor(t, acmeTimeout, "the self-check naming the stray address", func() bool { return strings.Contains(s.log.String(), want) })
}

// TestServe_ListenErrorsSayWhatToDo has --addr and --http-addr on taken
// ports, and (as a non-root user would see it) a port it may not bind:
// each error names the flag and what to do.
func TestServe_ListenErrorsSayWhatToDo(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	e := newACMEEnv(t, 0)
	c := e.config(t, "photos.test")
	c.Addr = taken.Addr().String()
	if _, err := openACMETest(t, c); err == nil || !strings.HasPrefix(err.Error(), "--addr: ") || !strings.Contains(err.Error(), "another process listens there") {
		t.Errorf("Open(--addr taken)=%v, want it to name --addr and say another process listens there", err)
	}
	c = e.config(t, "photos.test")
	c.HTTPAddr = taken.Addr().String()
	if _, err := openACMETest(t, c); err == nil || !strings.HasPrefix(err.Error(), "--http-addr: ") || !strings.Contains(err.Error(), "another process listens there") {
		t.Errorf("Open(--http-addr taken)=%v, want it to name --http-addr and say another process listens there", err)
	}
	denied := &net.OpError{Op: "listen", Net: "tcp", Addr: &net.TCPAddr{Port: 443}, Err: os.NewSyscallError("bind", syscall.EACCES)}
	if err := listenError("--addr", denied, ""); !strings.Contains(err.Error(), "CAP_NET_BIND_SERVICE") {
		t.Errorf("listenError(EACCES)=%v, want it to say how to bind a low port", err)
	}
}

// TestServe_DomainFlags checks how --domain combines with other flags.
func TestServe_DomainFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := runServe(t.Context(), []string{"--data", t.TempDir(), "--domain", "photos.example.com", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--domain and --tls-cert exclude each other") {
		t.Fatalf("runServe(--domain --tls-cert)=%v, want an error saying they exclude each other", err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--domain", "photos.example.com"}, ":443"},
		{[]string{"--domain", "photos.example.com", "--addr", ":8443"}, ":8443"},
		{nil, "localhost:8080"},
	} {
		fs := newFlagSet()
		var c Config
		c.flags(fs)
		if err := parseFlags(fs, tt.args); err != nil {
			t.Fatal(err)
		}
		if err := checkACMEFlags(fs, &c); err != nil {
			t.Fatal(err)
		}
		if c.Addr != tt.want {
			t.Errorf("%q: --addr %q, want %q", tt.args, c.Addr, tt.want)
		}
	}
	if _, err := domainNames("https://photos.example.com/"); err == nil {
		t.Error("domainNames(a URL) succeeded")
	}
	// An internationalized name becomes the ASCII form that CAs issue for
	// and browsers send in Host and SNI.
	if got, err := domainNames("Fotos.Bücher.example, photos.example.com."); err != nil || !slices.Equal(got, []string{"fotos.xn--bcher-kva.example", "photos.example.com"}) {
		t.Errorf("domainNames(IDN)=%q, %v, want the ASCII form", got, err)
	}
	if _, err := domainNames("photos..example.com"); err == nil {
		t.Error("domainNames(an empty label) succeeded")
	}
}

// TestACME_CAProblem has the CA fail to validate a domain (here it points
// elsewhere and only TLS-ALPN-01 runs, which the self-check cannot try):
// the CA's problem document comes out as a sentence saying what to fix.
func TestACME_CAProblem(t *testing.T) {
	e := newACMEEnv(t, 0)
	e.pebble.SetA(t, "elsewhere.test", "127.0.0.2")
	c := e.config(t, "elsewhere.test")
	c.HTTPAddr = ""
	s := startACME(t, c)
	want := "could not get a certificate for elsewhere.test: the CA could not connect to the domain"
	waitFor(t, acmeTimeout, "the CA's problem explained in the log", func() bool { return strings.Contains(s.log.String(), want) })
}

// TestServe_TLSCertHSTS checks that --tls-cert, like --domain, sends
// Strict-Transport-Security (for a domain name, not for localhost or an
// address) and Secure cookies.
func TestServe_TLSCertHSTS(t *testing.T) {
	rootPEM, certPEM, keyPEM := pixpooltest.LocalCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{TLSCert: certFile, TLSKey: keyFile, AdminPassword: "adminpass1"})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	client := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	hstsFor := func(host string) string {
		req, _ := http.NewRequest("GET", s.url+"/healthz", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Strict-Transport-Security")
	}
	if got := hstsFor("photos.example.com"); !strings.HasPrefix(got, "max-age=") {
		t.Fatalf("Strict-Transport-Security=%q, want max-age=...", got)
	}
	// Not for localhost or an address: browsers would then force HTTPS
	// on every other local server (any port) for two years.
	for _, host := range []string{"localhost", "LOCALHOST:8443", "dev.localhost", "127.0.0.1", "[::1]:8443"} {
		if got := hstsFor(host); got != "" {
			t.Errorf("Strict-Transport-Security=%q for Host %s, want none", got, host)
		}
	}
	resp, err := client.PostForm(s.url+"/login", url.Values{"username": {"admin"}, "password": {"adminpass1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) == 0 {
		t.Fatalf("POST /login: %s, no cookie", resp.Status)
	}
	for _, ck := range resp.Cookies() {
		if !ck.Secure {
			t.Errorf("cookie %s is not Secure", ck.Name)
		}
	}
}
