package pixpooltest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pixpool/pixpool/childenv"
)

// Pebble is Let's Encrypt's test ACME server, pebble, running on loopback
// ports with its DNS server, pebble-challtestsrv, which answers every name
// with 127.0.0.1 unless told otherwise (SetA). Validation is real: pebble
// dials the HTTP-01 and TLS-ALPN-01 ports of PebbleConfig on 127.0.0.1.
type Pebble struct {
	// Directory is the ACME directory URL (https).
	Directory string
	// CARootFile is a PEM file of the root that pebble's own HTTPS
	// certificate chains to (for --acme-ca-root).
	CARootFile string
	// DNS is the address (host:port, UDP and TCP) of the DNS server pebble
	// resolves names with.
	DNS string

	mgmt      string // pebble's management interface, https
	challMgmt string // pebble-challtestsrv's management interface, http
	client    *http.Client
}

// PebbleConfig sets up a Pebble.
type PebbleConfig struct {
	// HTTPPort and TLSPort are where pebble dials for HTTP-01 and
	// TLS-ALPN-01 challenges, on the address the name resolves to.
	HTTPPort, TLSPort int
	// Validity of the certificates issued. If zero, 90 days.
	Validity time.Duration
}

// FreeTCPPort returns a loopback TCP port nothing listens on now (another
// process may take it before the caller listens on it).
func FreeTCPPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// findTool returns the path of a program installed by go install (on PATH
// or in Go's bin folder). Without it it skips tb, except in CI, where
// scripts/test-deps.sh must have installed it.
func findTool(tb testing.TB, name string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	bin := os.Getenv("GOBIN")
	if bin == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			bin = filepath.Join(filepath.SplitList(string(bytes.TrimSpace(out)))[0], "bin")
		}
	}
	if p := filepath.Join(bin, name); bin != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := name + " is not installed: run scripts/test-deps.sh"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// StartPebble runs pebble and its DNS server until tb ends.
func StartPebble(tb testing.TB, c PebbleConfig) *Pebble {
	tb.Helper()
	pebbleBin := findTool(tb, "pebble")
	challBin := findTool(tb, "pebble-challtestsrv")
	dir := tb.TempDir()

	// pebble's own HTTPS certificate, from a root made here.
	rootPEM, certPEM, keyPEM := LocalCA(tb)
	p := &Pebble{CARootFile: filepath.Join(dir, "root.pem")}
	for name, b := range map[string][]byte{"root.pem": rootPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	dnsPort, challPort := FreeTCPPort(tb), FreeTCPPort(tb)
	p.DNS = net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort))
	p.challMgmt = "http://127.0.0.1:" + strconv.Itoa(challPort)
	chall := exec.Command(challBin, "-dnsserver", p.DNS, "-management", "127.0.0.1:"+strconv.Itoa(challPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	startLogged(tb, chall, filepath.Join(dir, "challtestsrv.log"))
	waitHTTP(tb, &http.Client{Timeout: time.Second}, p.challMgmt+"/", "pebble-challtestsrv")

	validity := c.Validity
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	listen, mgmt := FreeTCPPort(tb), FreeTCPPort(tb)
	p.Directory = "https://127.0.0.1:" + strconv.Itoa(listen) + "/dir"
	p.mgmt = "https://127.0.0.1:" + strconv.Itoa(mgmt)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       c.HTTPPort,
		"tlsPort":                        c.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description":    "the tests' profile",
			"validityPeriod": int64(validity / time.Second),
		}},
	}}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	pebble := exec.Command(pebbleBin, "-config", confFile, "-dnsserver", p.DNS)
	// No artificial delays, no nonces refused at random, and no
	// authorizations reused, so each order runs a real challenge.
	pebble.Env = childenv.Env(nil, "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	startLogged(tb, pebble, filepath.Join(dir, "pebble.log"))
	waitHTTP(tb, p.client, p.Directory, "pebble")
	return p
}

// startLogged starts cmd, its output in logFile, and stops it when tb ends;
// the log is shown if tb failed.
func startLogged(tb testing.TB, cmd *exec.Cmd, logFile string) {
	tb.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		tb.Fatal(err)
	}
	if cmd.Env == nil {
		cmd.Env = childenv.Env(nil)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		if tb.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				tb.Logf("%s:\n%s", filepath.Base(logFile), b)
			}
		}
	})
}

// waitHTTP waits up to 10 s for url to answer.
func waitHTTP(tb testing.TB, c *http.Client, url, what string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not start: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// IssuerRoots returns the roots of the certificates pebble issues (from
// its management interface: they change at every start).
func (p *Pebble) IssuerRoots(tb testing.TB) *x509.CertPool {
	tb.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("pebble /roots/0: %d %v", resp.StatusCode, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		tb.Fatalf("pebble /roots/0: no certificate in %q", b)
	}
	return pool
}

// SetA makes the DNS server answer host's A queries with addrs. (It
// answers AAAA queries with nothing unless told otherwise.)
func (p *Pebble) SetA(tb testing.TB, host string, addrs ...string) {
	tb.Helper()
	b, _ := json.Marshal(map[string]any{"host": host, "addresses": addrs})
	resp, err := http.Post(p.challMgmt+"/add-a", "application/json", bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("pebble-challtestsrv /add-a: %s", resp.Status)
	}
}

// LocalCA makes a root and a certificate it signs for 127.0.0.1 and
// localhost, with the certificate's key, all PEM, valid for a day.
func LocalCA(tb testing.TB) (rootPEM, certPEM, keyPEM []byte) {
	tb.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	rootKey, leafKey := newKey(), newKey()
	now := time.Now()
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pixpool test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		tb.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	rootCert, _ := x509.ParseCertificate(rootDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, rootCert, &leafKey.PublicKey, rootKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		tb.Fatal(err)
	}
	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	return enc("CERTIFICATE", rootDER), enc("CERTIFICATE", leafDER), enc("EC PRIVATE KEY", keyDER)
}
