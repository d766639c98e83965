package service

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/pixpool/pixpool"
)

// lateStore is another replica's view of the store at the moment two
// replicas make a signing key on first use: its first read of the setting
// named finds none, as if made just before the other replica stored
// theirs. Everything else reaches the real store.
type lateStore struct {
	pixpool.Store
	name string
	once sync.Once
}

func (s *lateStore) Setting(ctx context.Context, name string) (string, error) {
	late := false
	if name == s.name {
		s.once.Do(func() { late = true })
	}
	if late {
		return "", pixpool.Errorf(pixpool.ENOTFOUND, "setting %q not found", name)
	}
	return s.Store.Setting(ctx, name)
}

// TestShares_KeyMadeAtOnce: two replicas making the share key at the same
// moment each sign a link; both links keep working on every replica.
func TestShares_KeyMadeAtOnce(t *testing.T) {
	f := newShareFixture(t)
	_, first := f.create(t, &pixpool.Share{Kind: pixpool.ShareImage, Key: "cats/tom.png"})
	other := &Shares{Store: &lateStore{Store: f.fixture.store, name: ShareKeySetting}, Images: f.images, Now: f.shares.Now, Logger: f.shares.Logger}
	sh, err := other.Create(t.Context(), f.owner, &pixpool.Share{Kind: pixpool.ShareAlbum, Key: "dogs/"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := other.Token(t.Context(), sh)
	if err != nil {
		t.Fatal(err)
	}
	third := &Shares{Store: f.fixture.store, Images: f.images, Now: f.shares.Now, Logger: f.shares.Logger}
	for name, token := range map[string]string{"first": first, "second": second} {
		for _, r := range []*Shares{f.shares, other, third} {
			if _, err := r.Open(t.Context(), token, "", false); err != nil {
				t.Fatalf("Open of the link the %s replica signed=%v, want it to work on every replica", name, err)
			}
		}
	}
}

// TestVariant_KeyMadeAtOnce: two replicas making the variants key at the
// same moment each sign a URL; both URLs work on every replica.
func TestVariant_KeyMadeAtOnce(t *testing.T) {
	f := open(t, t.TempDir())
	replica := func(st pixpool.Store) *Images {
		return &Images{Store: st, Blobs: f.blobs, Logger: slog.New(slog.DiscardHandler)}
	}
	other := replica(&lateStore{Store: f.store, name: VariantKeySetting})
	sp := spec(t, "123", "", "", "")
	sigs := map[string]string{}
	for _, r := range []struct {
		name string
		s    *Images
	}{{"first", f.images}, {"second", other}} {
		sig, err := r.s.SignVariant(t.Context(), f.owner, "cats/tom.png", sp)
		if err != nil {
			t.Fatal(err)
		}
		sigs[r.name] = sig
	}
	for name, sig := range sigs {
		for _, r := range []*Images{f.images, other, replica(f.store)} {
			if err := r.checkVariant(t.Context(), f.owner, "cats/tom.png", sp, sig); err != nil {
				t.Fatalf("the URL the %s replica signed: %v, want it accepted on every replica", name, err)
			}
		}
	}
}

// TestAccounts_DeviceKeyMadeAtOnce: two replicas making the device key at
// the same moment each sign a device cookie; both cookies count on every
// replica.
func TestAccounts_DeviceKeyMadeAtOnce(t *testing.T) {
	a, c := newAccounts(t)
	u := newAda(t, a)
	replica := func(st pixpool.Store) *Accounts {
		return &Accounts{Store: st, Now: a.Now, Logger: a.Logger, Password: a.Password}
	}
	other, third := replica(&lateStore{Store: a.Store, name: DeviceKeySetting}), replica(a.Store)
	cookies := map[string]string{}
	for _, r := range []struct {
		name string
		a    *Accounts
	}{{"first", a}, {"second", other}} {
		cookie, err := r.a.newDevice(t.Context(), u, c.t.Add(DeviceTTL))
		if err != nil {
			t.Fatal(err)
		}
		cookies[r.name] = cookie
	}
	for name, cookie := range cookies {
		for _, r := range []*Accounts{a, other, third} {
			if id, err := r.device(t.Context(), cookie, u.Username, c.t); err != nil || id == "" {
				t.Fatalf("the cookie the %s replica signed: %q, %v, want it to count on every replica", name, id, err)
			}
		}
	}
}
