package manager

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pool"
)

// lateStore is a store as a second leader saw it while the first made the
// pool's secret: its first read of the secret finds none.
type lateStore struct {
	pixpool.Store
	once sync.Once
}

func (s *lateStore) Setting(ctx context.Context, name string) (string, error) {
	late := false
	if name == SecretSetting {
		s.once.Do(func() { late = true })
	}
	if late {
		return "", pixpool.Errorf(pixpool.ENOTFOUND, "setting %q not found", name)
	}
	return s.Store.Setting(ctx, name)
}

// TestManager_SecretMadeAtOnce: two leaders (one whose lease ran out as it
// made the secret) making the pool's secret at once end up with the same,
// the one stored first, which nodes started by either accept.
func TestManager_SecretMadeAtOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	quiet := slog.New(slog.DiscardHandler)
	leader := func(st pixpool.Store) *Manager {
		m := &Manager{Store: st, Pool: &pool.Client{Logger: quiet}, Provider: &LocalProvider{Logger: quiet}, Logger: quiet}
		t.Cleanup(func() { m.Pool.Close() })
		return m
	}
	first, second := leader(st), leader(&lateStore{Store: st})
	for _, m := range []*Manager{first, second} {
		m.mu.Lock()
		err := m.loadSecret(ctx, true)
		m.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	stored, err := st.Setting(ctx, SecretSetting)
	if err != nil {
		t.Fatal(err)
	}
	if first.secret != stored || second.secret != stored {
		t.Fatalf("secrets: first leader %q, second %q, stored %q; want all the same", first.secret, second.secret, stored)
	}
}
