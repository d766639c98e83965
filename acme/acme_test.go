package acme

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"github.com/pixpool/pixpool/store/sqlite"
	"go.uber.org/zap"
)

func newStorage(t *testing.T) *Storage {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "pixpool.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Storage{DB: db, LeaseTTL: 3 * time.Second, Poll: 10 * time.Millisecond}
}

func TestStorage_Files(t *testing.T) {
	ctx := t.Context()
	s := newStorage(t)
	if _, err := s.Load(ctx, "certificates/ca/a.example/a.example.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing)=%v, want fs.ErrNotExist", err)
	}
	if _, err := s.Stat(ctx, "certificates"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(missing)=%v, want fs.ErrNotExist", err)
	}
	for _, k := range []string{"certificates/ca/a.example/a.example.crt", "certificates/ca/a.example/a.example.key", "certificates/ca/b.example/b.example.crt", "acme/ca/users/x/key"} {
		if err := s.Store(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := s.Load(ctx, "acme/ca/users/x/key"); err != nil || string(b) != "acme/ca/users/x/key" {
		t.Fatalf("Load()=%q, %v", b, err)
	}
	if got, err := s.Stat(ctx, "certificates/ca"); err != nil || got.IsTerminal || got.Modified.IsZero() {
		t.Fatalf("Stat(folder)=%+v, %v, want a folder with a time", got, err)
	}
	if got, err := s.Stat(ctx, "certificates/ca/a.example/a.example.key"); err != nil || !got.IsTerminal || got.Size != int64(len("certificates/ca/a.example/a.example.key")) {
		t.Fatalf("Stat(file)=%+v, %v", got, err)
	}
	if !s.Exists(ctx, "certificates/ca/b.example") || s.Exists(ctx, "certificates/ca/c.example") || s.Exists(ctx, "certificates/ca/a.exam") {
		t.Fatal("Exists is wrong")
	}
	for _, tt := range []struct {
		dir       string
		recursive bool
		want      []string
	}{
		{"certificates/ca", false, []string{"certificates/ca/a.example", "certificates/ca/b.example"}},
		{"certificates/ca/", false, []string{"certificates/ca/a.example", "certificates/ca/b.example"}},
		{"certificates", true, []string{"certificates/ca", "certificates/ca/a.example", "certificates/ca/a.example/a.example.crt", "certificates/ca/a.example/a.example.key", "certificates/ca/b.example", "certificates/ca/b.example/b.example.crt"}},
	} {
		got, err := s.List(ctx, tt.dir, tt.recursive)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Fatalf("List(%q, %t)=%q, %v, want %q", tt.dir, tt.recursive, got, err, tt.want)
		}
	}
	if _, err := s.List(ctx, "nothing", true); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("List(missing)=%v, want fs.ErrNotExist", err)
	}
	if err := s.Delete(ctx, "certificates/ca/a.example"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/a.example") || !s.Exists(ctx, "certificates/ca/b.example/b.example.crt") {
		t.Fatal("Delete(folder) removed the wrong files")
	}
}

func TestStorage_Lock(t *testing.T) {
	ctx := t.Context()
	a := newStorage(t)
	b := &Storage{DB: a.DB, LeaseTTL: a.LeaseTTL, Poll: a.Poll} // another replica

	if err := a.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_a.example"); ok || err != nil {
		t.Fatalf("TryLock(held by another)=%t, %v, want false", ok, err)
	}
	// Another goroutine of the same process waits too.
	if ok, err := a.TryLock(ctx, "issue_cert_a.example"); ok || err != nil {
		t.Fatalf("TryLock(held by this process)=%t, %v, want false", ok, err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_b.example"); !ok || err != nil {
		t.Fatalf("TryLock(another name)=%t, %v, want true", ok, err)
	}
	if err := b.Unlock(ctx, "issue_cert_b.example"); err != nil {
		t.Fatal(err)
	}

	// The holder's lease is renewed while held: it outlasts its term.
	time.Sleep(a.LeaseTTL + time.Second)
	if ok, _ := b.TryLock(ctx, "issue_cert_a.example"); ok {
		t.Fatal("took a lock whose holder keeps renewing it")
	}

	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_a.example") }()
	select {
	case err := <-got:
		t.Fatalf("Lock returned %v while another held the lock", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := a.Unlock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Lock after Unlock=%v", err)
	}
	if err := b.Unlock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	if err := b.Unlock(ctx, "issue_cert_a.example"); err == nil {
		t.Fatal("Unlock of a lock not held succeeded")
	}

	// Lock gives up when its context ends.
	if err := a.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.Lock(short, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock(ended context)=%v, want DeadlineExceeded", err)
	}
	a.Unlock(ctx, "x")
}

func TestExplain(t *testing.T) {
	for _, tt := range []struct {
		problem acme.Problem
		want    string
	}{
		{acme.Problem{Type: acme.ProblemTypeDNS, Detail: "NXDOMAIN looking up A for photos.example.com"}, "create its DNS A/AAAA records"},
		{acme.Problem{Type: acme.ProblemTypeConnection, Detail: "Timeout during connect (likely firewall problem)"}, "could not connect to the domain"},
		{acme.Problem{Type: acme.ProblemTypeUnauthorized, Detail: "Failed to connect to 127.0.0.2:443"}, "could not connect to the domain"},
		{acme.Problem{Type: acme.ProblemTypeUnauthorized, Detail: "Invalid response from http://photos.example.com/.well-known/acme-challenge/x: 404"}, "the domain points at another machine"},
		{acme.Problem{Type: acme.ProblemTypeCAA, Detail: "CAA record for photos.example.com prevents issuance"}, "CAA DNS records"},
		{acme.Problem{Type: acme.ProblemTypeRateLimited, Detail: "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-08 10:00:00 UTC"}, "rate limit"},
		{acme.Problem{Type: acme.ProblemTypeRejectedIdentifier, Detail: "Cannot issue for \"photos.local\""}, "public domain name"},
		{acme.Problem{Type: acme.ProblemTypeCompound, Subproblems: []acme.Subproblem{{Problem: acme.Problem{Type: acme.ProblemTypeDNS, Detail: "no A record"}}}}, "create its DNS A/AAAA records"},
	} {
		err := errors.Join(errors.New("[photos.example.com] Obtain"), tt.problem)
		got := Explain("photos.example.com", err)
		if !strings.HasPrefix(got, "could not get a certificate for photos.example.com: ") || !strings.Contains(got, tt.want) || !strings.Contains(got, tt.problem.Detail) {
			t.Errorf("Explain(%s)=%q, want it to say %q and the CA's detail", tt.problem.Type, got, tt.want)
		}
	}
	if got := Explain("a.example", errors.New("network down")); !strings.Contains(got, "a.example") || !strings.Contains(got, "network down") {
		t.Errorf("Explain(plain error)=%q", got)
	}
}

func TestZapLogger(t *testing.T) {
	var buf bytes.Buffer
	l := zapLogger(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})).Named("obtain").With(zap.String("identifier", "a.example"))
	l.Debug("hidden")
	l.Info("lock acquired", zap.Duration("took", 1500*time.Millisecond), zap.Int("attempt", 2), zap.Strings("names", []string{"a", "b"}))
	l.Error("job failed", zap.Error(errors.New("boom")))
	l.Error("job stopped", zap.Error(context.Canceled)) // a shutdown: debug
	got := buf.String()
	for _, want := range []string{
		`level=INFO msg="lock acquired" logger=obtain identifier=a.example took=1.5s attempt=2 names="[a b]"`,
		`level=ERROR msg="job failed" logger=obtain identifier=a.example error=boom`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") || strings.Contains(got, "job stopped") {
		t.Errorf("log has lines below its level:\n%s", got)
	}
}

// TestManager_StopLetsLeftLocksRunOut stops a Manager while a lock is
// still held (a job that did not release it in time): its lease is no
// longer renewed, so another replica gets the lock once the term runs
// out, instead of never while this process lives on.
func TestManager_StopLetsLeftLocksRunOut(t *testing.T) {
	defer func(d time.Duration) { stopWait = d }(stopWait)
	stopWait = 50 * time.Millisecond
	ctx := t.Context()
	s := newStorage(t)
	m := &Manager{
		Domains: []string{"a.example"}, Store: s.DB, TLSAddr: "127.0.0.1:443",
		LockTTL: 300 * time.Millisecond, LockPoll: 10 * time.Millisecond,
		// The self-check finds no DNS server, so nothing is ordered.
		Resolver: dnsResolverAt("127.0.0.1:1"), CheckRetry: time.Hour,
		Logger: slog.New(slog.DiscardHandler),
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.storage.TryLock(ctx, "issue_cert_a.example"); !ok || err != nil {
		t.Fatalf("TryLock=%t, %v", ok, err)
	}
	m.Stop()
	other := &Storage{DB: s.DB, LeaseTTL: time.Minute, Poll: 10 * time.Millisecond}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := other.Lock(wait, "issue_cert_a.example"); err != nil {
		t.Fatalf("another replica's Lock after Stop: %v (the stopped Manager still renews the lease)", err)
	}
	other.Unlock(ctx, "issue_cert_a.example")
}

func dnsResolverAt(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// TestManager_FailedRenewalSaysWhenHTTPSStops logs a failed renewal with
// how long the certificate in use has left: a renewal that fails for
// days must say that HTTPS is about to break, not just "trying again".
func TestManager_FailedRenewalSaysWhenHTTPSStops(t *testing.T) {
	var buf bytes.Buffer
	m := &Manager{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	m.onEvent(t.Context(), "cert_failed", map[string]any{
		"renewal": true, "identifier": "a.example", "remaining": 36 * time.Hour,
		"error": acme.Problem{Type: acme.ProblemTypeConnection, Detail: "Timeout during connect"},
	})
	got := buf.String()
	for _, want := range []string{"level=ERROR", "could not connect to the domain", "expires in 1d12h", "HTTPS for a.example stops working"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	buf.Reset()
	m.onEvent(t.Context(), "cert_failed", map[string]any{
		"renewal": true, "identifier": "a.example", "remaining": -time.Hour, "error": errors.New("boom"),
	})
	if got := buf.String(); !strings.Contains(got, "expired 1h ago") {
		t.Errorf("log of a renewal failing after expiry lacks %q:\n%s", "expired 1h ago", got)
	}
}

// TestManager_DamagedCertificateSaysHowToRecover stores a damaged
// certificate: Start refuses it with a message that says which rows to
// delete so that a new one is ordered.
func TestManager_DamagedCertificateSaysHowToRecover(t *testing.T) {
	ctx := t.Context()
	s := newStorage(t)
	newManager := func() *Manager {
		return &Manager{
			Domains: []string{"a.example"}, Store: s.DB, TLSAddr: "127.0.0.1:443", CA: "https://ca.test/dir",
			Resolver: dnsResolverAt("127.0.0.1:1"), CheckRetry: time.Hour,
			Logger: slog.New(slog.DiscardHandler),
		}
	}
	m := newManager()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	prefix := certmagic.StorageKeys.CertsSitePrefix(m.issuer.IssuerKey(), "a.example")
	for _, ext := range []string{".crt", ".key", ".json"} {
		if err := s.Store(ctx, prefix+"/a.example"+ext, []byte("damaged")); err != nil {
			t.Fatal(err)
		}
	}
	m = newManager()
	err := m.Start(ctx)
	m.Stop()
	if err == nil {
		t.Fatal("Start with a damaged certificate succeeded")
	}
	if !strings.Contains(err.Error(), `delete the rows of cert_files whose key starts with "`+prefix+`/"`) {
		t.Fatalf("Start=%v, want it to say which rows to delete", err)
	}
}

// TestStorage_ExistsLogsStoreErrors has the store fail: Exists (which
// cannot return an error) says false, as certmagic expects, and logs why,
// since certmagic may then order a certificate it already has.
func TestStorage_ExistsLogsStoreErrors(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "pixpool.db"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	s := &Storage{DB: db, Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	db.Close()
	if s.Exists(t.Context(), "certificates/ca/a.example/a.example.crt") {
		t.Fatal("Exists=true with the store closed")
	}
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "certificates/ca/a.example/a.example.crt") {
		t.Fatalf("log %q, want a warning naming the key", got)
	}
}

// TestStorage_LostLockIsNotTakenBack has a holder lose its lease (it
// stalled past the term, or the store was unreachable) to another
// replica: it stops renewing and says so, instead of quietly taking the
// lock back later, behind the back of whoever waits next.
func TestStorage_LostLockIsNotTakenBack(t *testing.T) {
	ctx := t.Context()
	var buf syncBuffer
	a := newStorage(t)
	a.LeaseTTL, a.Logger = 300*time.Millisecond, slog.New(slog.NewTextHandler(&buf, nil))
	b := &Storage{DB: a.DB, LeaseTTL: time.Minute, Poll: 10 * time.Millisecond}

	if ok, err := a.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("TryLock=%t, %v", ok, err)
	}
	// a's lease runs out (here: taken from it) and b takes the lock.
	holder, err := a.DB.LeaseHolder(ctx, leasePrefix+"x")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DB.ReleaseLease(ctx, leasePrefix+"x", holder); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("b.TryLock=%t, %v", ok, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "lost the lock") {
		if time.Now().After(deadline) {
			t.Fatalf("a's log does not say it lost the lock:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * a.LeaseTTL / 2) // more than a's renewal period
	if got, err := a.DB.LeaseHolder(ctx, leasePrefix+"x"); got != "" || err != nil {
		t.Fatalf("after b's Unlock the lock is held by %q (%v), want nobody: a took it back", got, err)
	}
	a.Unlock(ctx, "x")
}

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStorage_UnlockAfterLostLockSparesTheNewHolder has one goroutine
// lose its lease and another of the same process take the lock: the
// first Unlock (whichever caller it is) does not end the live lease; the
// second does.
func TestStorage_UnlockAfterLostLockSparesTheNewHolder(t *testing.T) {
	ctx := t.Context()
	var buf syncBuffer
	s := newStorage(t)
	s.LeaseTTL, s.Logger = 300*time.Millisecond, slog.New(slog.NewTextHandler(&buf, nil))
	if ok, err := s.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("TryLock=%t, %v", ok, err)
	}
	holder, _ := s.DB.LeaseHolder(ctx, leasePrefix+"x")
	if err := s.DB.ReleaseLease(ctx, leasePrefix+"x", holder); err != nil { // its lease ran out
		t.Fatal(err)
	}
	if ok, err := s.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("second TryLock=%t, %v", ok, err)
	}
	second, _ := s.DB.LeaseHolder(ctx, leasePrefix+"x")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "lost the lock") {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say the first holder lost the lock:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DB.LeaseHolder(ctx, leasePrefix+"x"); got != second {
		t.Fatalf("after the first Unlock the lease is held by %q, want the second holder %q", got, second)
	}
	if err := s.Unlock(ctx, "x"); err != nil {
		t.Fatalf("second Unlock=%v", err)
	}
	if got, _ := s.DB.LeaseHolder(ctx, leasePrefix+"x"); got != "" {
		t.Fatalf("after both Unlocks the lease is held by %q", got)
	}
}

// TestCheck_GivesUpOnAServerThatNeverAnswers points the self-check at a
// port that accepts connections and never answers: Check ends with its
// context, instead of hanging and so never ordering.
func TestCheck_GivesUpOnAServerThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, unanswered
		}
	}()
	s := newStorage(t)
	m := &Manager{Store: s.DB, HTTPAddr: "127.0.0.1:0", CheckPort: ln.Addr().(*net.TCPAddr).Port,
		Resolver: &net.Resolver{PreferGo: true}} // localhost from the hosts file
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Check(ctx, "localhost") }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Check succeeded against a server that never answers")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Check still waiting 10 s after its context ended")
	}
}
