package acme

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/pixpool/pixpool"
)

// Store is what automatic HTTPS keeps in the metadata store: its files,
// and leases to take turns (pixpool.Store has both).
type Store interface {
	pixpool.CertStore
	pixpool.LeaseStore
}

// Storage is certmagic's storage over the metadata store, so that every
// replica using that store shares the ACME account, the certificates and
// the challenges under way. Its locks are leases (pixpool.LeaseStore),
// held while renewed and ended at Unlock: only one replica orders or
// renews a certificate at a time, and if it dies its lease runs out after
// LeaseTTL, so another can take over.
type Storage struct {
	DB     Store
	Logger *slog.Logger
	// LeaseTTL is the term of a lock's lease, renewed every third of it
	// while held. If zero, one minute.
	LeaseTTL time.Duration
	// Poll is how often Lock tries again for a lock another holds. If
	// zero, one second.
	Poll time.Duration

	idOnce sync.Once
	id     string // this Storage's name among lease holders

	mu sync.Mutex
	// held are the locks this Storage holds, by name: more than one
	// only after a holder lost its lease and another goroutine of this
	// process took the lock. Guarded by mu.
	held map[string][]*heldLock
}

// heldLock is a lock this Storage holds.
type heldLock struct {
	holder string
	stop   context.CancelFunc // ends the renewals
	done   chan struct{}      // closed when they have ended
	lost   atomic.Bool        // another holder took the lease
}

var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)

// leasePrefix starts the lease names of certmagic's locks.
const leasePrefix = "acme:"

func (s *Storage) ttl() time.Duration {
	if s.LeaseTTL > 0 {
		return s.LeaseTTL
	}
	return time.Minute
}

// notExist makes err, if ENOTFOUND, one that certmagic recognizes
// (fs.ErrNotExist).
func notExist(err error) error {
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return fmt.Errorf("%s: %w", pixpool.ErrorMessage(err), fs.ErrNotExist)
	}
	return err
}

// Store puts value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	return s.DB.PutCertFile(ctx, key, value)
}

// Load returns the value at key, or an error that is fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := s.DB.CertFile(ctx, key)
	return b, notExist(err)
}

// Delete removes key and every key under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.DB.DeleteCertFiles(ctx, key)
}

// Exists reports whether key is a file or a folder (holds files). A
// store error is logged: certmagic, told false, may order a certificate
// it has.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && ctx.Err() == nil {
		s.logger().Warn("acme: could not check the metadata store for a file; taking it as missing", "key", key, "err", err)
	}
	return err == nil
}

// List returns the files and folders under dir: its direct children, or
// everything beneath it if recursive.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	if dir == "" {
		prefix = ""
	}
	files, err := s.DB.CertFiles(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%q: %w", dir, fs.ErrNotExist)
	}
	var out []string
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, f := range files {
		rest := strings.TrimPrefix(f.Key, prefix)
		parts := strings.Split(rest, "/")
		if !recursive {
			add(prefix + parts[0])
			continue
		}
		for i := range parts {
			add(prefix + strings.Join(parts[:i+1], "/"))
		}
	}
	slices.Sort(out)
	return out, nil
}

// Stat describes key, a file or a folder, or returns an error that is
// fs.ErrNotExist.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	fi, err := s.DB.StatCertFile(ctx, key)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: fi.Modified, Size: fi.Size, IsTerminal: true}, nil
	}
	if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		return certmagic.KeyInfo{}, err
	}
	files, err := s.DB.CertFiles(ctx, strings.TrimSuffix(key, "/")+"/")
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if len(files) == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("%q: %w", key, fs.ErrNotExist)
	}
	info := certmagic.KeyInfo{Key: key}
	for _, f := range files {
		if f.Modified.After(info.Modified) {
			info.Modified = f.Modified
		}
	}
	return info, nil
}

// Lock takes the lock name, waiting while another holds it, until ctx
// ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	poll := s.Poll
	if poll <= 0 {
		poll = time.Second
	}
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for lock %q: %w", name, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// TryLock takes the lock name if nobody holds it, and reports whether it
// did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	s.idOnce.Do(func() { s.id = rand.Text()[:12] })
	// A holder per call: two goroutines of this process must not share a
	// lock either.
	holder := s.id + "/" + rand.Text()[:8]
	won, err := s.DB.AcquireLease(ctx, leasePrefix+name, holder, s.ttl())
	if err != nil || !won {
		return false, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h := &heldLock{holder: holder, stop: stop, done: make(chan struct{})}
	go s.renew(rctx, name, h)
	s.mu.Lock()
	if s.held == nil {
		s.held = map[string][]*heldLock{}
	}
	s.held[name] = append(s.held[name], h)
	s.mu.Unlock()
	return true, nil
}

// renew keeps h's lease on name until ctx ends.
func (s *Storage) renew(ctx context.Context, name string, h *heldLock) {
	defer close(h.done)
	t := time.NewTicker(s.ttl() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		won, err := s.DB.AcquireLease(ctx, leasePrefix+name, h.holder, s.ttl())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.logger().Warn("acme: could not renew the lease of a lock; another replica may take it",
				"lock", name, "err", err)
		} else if !won {
			// Another holder has it: its lease ran out while this process
			// stalled or could not reach the store. Taking it back when
			// that holder lets go would hold off whoever waits next.
			s.logger().Error("acme: lost the lock to another holder (its lease ran out); the work under it may be done twice",
				"lock", name)
			h.lost.Store(true)
			return
		}
	}
}

// Unlock releases the lock name, taken by Lock or TryLock. If two
// goroutines hold it (one lost its lease, and the other then took it),
// the lost one is released first: which caller unlocks cannot be told,
// and so the live lease is never ended before its holder is done.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	hs := s.held[name]
	i := slices.IndexFunc(hs, func(h *heldLock) bool { return h.lost.Load() })
	if i < 0 {
		i = 0
	}
	var h *heldLock
	if len(hs) > 0 {
		h = hs[i]
		if hs = slices.Delete(hs, i, i+1); len(hs) == 0 {
			delete(s.held, name)
		} else {
			s.held[name] = hs
		}
	}
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("acme: unlock %q: not locked by this process", name)
	}
	h.stop()
	<-h.done
	return s.DB.ReleaseLease(context.WithoutCancel(ctx), leasePrefix+name, h.holder)
}

// wait waits, up to d, until this Storage holds no lock: certmagic's
// jobs release theirs after their context ends, and a lock left behind
// holds other replicas off until its lease runs out.
func (s *Storage) wait(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := len(s.held)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopRenewals stops renewing the leases of the locks still held, and
// waits for their renewals to end. The leases run out after their term;
// a later Unlock still releases its lease at once.
func (s *Storage) stopRenewals() {
	s.mu.Lock()
	var held []*heldLock
	for _, hs := range s.held {
		held = append(held, hs...)
	}
	s.mu.Unlock()
	for _, h := range held {
		h.stop()
		<-h.done
	}
}

func (s *Storage) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "pixpool metadata store" }
