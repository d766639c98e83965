package service

import (
	"context"
	"errors"
	"image/color"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// shareCallStore counts the store calls that opening a link may make.
type shareCallStore struct {
	pixpool.Store
	calls atomic.Int64
}

func (c *shareCallStore) Setting(ctx context.Context, name string) (string, error) {
	c.calls.Add(1)
	return c.Store.Setting(ctx, name)
}

func (c *shareCallStore) Share(ctx context.Context, id int64) (*pixpool.Share, error) {
	c.calls.Add(1)
	return c.Store.Share(ctx, id)
}

func (c *shareCallStore) ViewShare(ctx context.Context, id int64, now time.Time) (*pixpool.Share, bool, error) {
	c.calls.Add(1)
	return c.Store.ViewShare(ctx, id, now)
}

type shareFixture struct {
	*fixture
	shares *Shares
	store  *shareCallStore
	now    time.Time
}

func newShareFixture(t *testing.T) *shareFixture {
	f := &shareFixture{fixture: open(t, t.TempDir()), now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.store = &shareCallStore{Store: f.fixture.store}
	f.shares = &Shares{Store: f.store, Images: f.images, Now: func() time.Time { return f.now }, Logger: slog.New(slog.DiscardHandler)}
	for _, key := range []string{"cats/tom.png", "cats/kit.png", "dogs/rex.png"} {
		if _, err := f.images.Put(t.Context(), f.owner, key, pngOf(t, 8, 8, color.White)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *shareFixture) create(t *testing.T, sh *pixpool.Share) (*pixpool.Share, string) {
	t.Helper()
	n, err := f.shares.Create(t.Context(), f.owner, sh)
	if err != nil {
		t.Fatalf("Create(%+v)=%v", sh, err)
	}
	token, err := f.shares.Token(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	return n, token
}

// goneStatus returns the status of a *ShareGoneError, or "" for another
// error (failing t if there is none).
func goneStatus(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatalf("Open succeeded, want it refused")
	}
	var g *ShareGoneError
	if errors.As(err, &g) {
		return g.Status
	}
	return ""
}

func TestShares_Create(t *testing.T) {
	f := newShareFixture(t)
	sh, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareImage, Key: "cats/tom.png"})
	if sh.Title != "tom.png" {
		t.Fatalf("Title=%q, want the key's last segment", sh.Title)
	}
	if len(token) != tokenLen {
		t.Fatalf("token %q is %d long, want %d", token, len(token), tokenLen)
	}
	again, err := f.shares.Token(t.Context(), sh)
	if err != nil || again != token {
		t.Fatalf("Token again=%q, %v; want the same %q", again, err, token)
	}
	for name, bad := range map[string]*pixpool.Share{
		"MissingImage":  {Kind: pixpool.ShareImage, Key: "cats/nope.png"},
		"EmptyPrefix":   {Kind: pixpool.ShareAlbum, Key: ""},
		"BadKind":       {Kind: "folder", Key: "cats/"},
		"NegativeViews": {Kind: pixpool.ShareAlbum, Key: "cats/", MaxViews: -1},
		"PastExpiry":    {Kind: pixpool.ShareAlbum, Key: "cats/", ExpiresAt: f.now.Add(-time.Second)},
		"FarExpiry":     {Kind: pixpool.ShareAlbum, Key: "cats/", ExpiresAt: f.now.Add(11 * 365 * 24 * time.Hour)},
		"LongTitle":     {Kind: pixpool.ShareAlbum, Key: "cats/", Title: strings.Repeat("x", pixpool.MaxShareTitle+1)},
		"ControlTitle":  {Kind: pixpool.ShareAlbum, Key: "cats/", Title: "a\nb"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.shares.Create(t.Context(), f.owner, bad)
			if c := pixpool.ErrorCode(err); c != pixpool.EINVALID && c != pixpool.ENOTFOUND {
				t.Fatalf("Create(%+v)=%v, want it refused", bad, err)
			}
		})
	}
}

func TestShares_ViewLimit(t *testing.T) {
	f := newShareFixture(t)
	sh, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareImage, Key: "cats/tom.png", MaxViews: 2})
	var tickets []string
	for i := range 2 {
		v, err := f.shares.Open(t.Context(), token, "", true)
		if err != nil {
			t.Fatalf("view %d: Open=%v", i+1, err)
		}
		if !v.Counted || v.Ticket == "" || v.Share.Views != int64(i+1) {
			t.Fatalf("view %d: %+v, want counted with a ticket", i+1, v)
		}
		tickets = append(tickets, v.Ticket)
	}
	_, err := f.shares.Open(t.Context(), token, "", true)
	if got := goneStatus(t, err); got != pixpool.ShareUsedUp {
		t.Fatalf("third view: %v, want used up", err)
	}
	// The visits under way still load their images, counting nothing.
	for _, ticket := range tickets {
		v, err := f.shares.Open(t.Context(), token, ticket, true)
		if err != nil || v.Counted {
			t.Fatalf("Open with a ticket=%+v, %v; want it allowed, not counted", v, err)
		}
	}
	// A ticket of another share, or forged, counts as none.
	_, other := f.create(t, &pixpool.Share{Kind: pixpool.ShareAlbum, Key: "cats/"})
	ov, err := f.shares.Open(t.Context(), other, "", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, ticket := range []string{ov.Ticket, "99999999999.AAAAAAAAAAAAAAAAAAAAAA", "x"} {
		if _, err := f.shares.Open(t.Context(), token, ticket, true); goneStatus(t, err) != pixpool.ShareUsedUp {
			t.Fatalf("Open with ticket %q=%v, want used up", ticket, err)
		}
	}
	// Tickets end.
	f.now = f.now.Add(VisitTTL)
	if _, err := f.shares.Open(t.Context(), token, tickets[0], true); goneStatus(t, err) != pixpool.ShareUsedUp {
		t.Fatalf("Open with an old ticket=%v, want used up", err)
	}
	if got, _ := f.store.Store.Share(t.Context(), sh.ID); got.Views != 2 {
		t.Fatalf("Views=%d, want 2", got.Views)
	}
}

func TestShares_Expiry(t *testing.T) {
	f := newShareFixture(t)
	_, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareAlbum, Key: "cats/", ExpiresAt: f.now.Add(time.Hour)})
	v, err := f.shares.Open(t.Context(), token, "", true)
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour - time.Millisecond)
	if _, err := f.shares.Open(t.Context(), token, "", true); err != nil {
		t.Fatalf("Open just before expiry=%v", err)
	}
	f.now = f.now.Add(time.Millisecond)
	for _, ticket := range []string{"", v.Ticket} {
		if _, err := f.shares.Open(t.Context(), token, ticket, true); goneStatus(t, err) != pixpool.ShareExpired {
			t.Fatalf("Open at expiry (ticket %q)=%v, want expired", ticket, err)
		}
	}
}

func TestShares_Revoke(t *testing.T) {
	f := newShareFixture(t)
	sh, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareAlbum, Key: "cats/"})
	v, err := f.shares.Open(t.Context(), token, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.shares.Revoke(t.Context(), f.owner+1, sh.ID); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Revoke by another user=%v, want ENOTFOUND", err)
	}
	if _, err := f.shares.Get(t.Context(), f.owner+1, sh.ID); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Get by another user=%v, want ENOTFOUND", err)
	}
	if _, err := f.shares.Revoke(t.Context(), f.owner, sh.ID); err != nil {
		t.Fatal(err)
	}
	for _, ticket := range []string{"", v.Ticket} {
		for _, count := range []bool{true, false} {
			if _, err := f.shares.Open(t.Context(), token, ticket, count); goneStatus(t, err) != pixpool.ShareRevoked {
				t.Fatalf("Open revoked (ticket %q, count %v)=%v, want revoked", ticket, count, err)
			}
		}
	}
	list, err := f.shares.List(t.Context(), f.owner)
	if err != nil || len(list) != 1 || list[0].Status(f.now) != pixpool.ShareRevoked {
		t.Fatalf("List=%v, %v; want the revoked share", list, err)
	}
}

// TestShares_BadTokens: a token that is not a link's is ENOTFOUND, and
// with the key known costs no store call.
func TestShares_BadTokens(t *testing.T) {
	f := newShareFixture(t)
	sh, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareImage, Key: "cats/tom.png"})
	if _, err := f.shares.Open(t.Context(), token, "", true); err != nil {
		t.Fatal(err) // reads the key
	}
	flip := []byte(token)
	flip[len(flip)-1] ^= 1
	if flip[len(flip)-1] == token[len(token)-1] {
		t.Fatal("flip changed nothing")
	}
	forged := *sh
	forged.ID++
	bads := []string{"", "x", token + "A", string(flip), token[:22] + "." + strings.Repeat("A", 22), signToken([]byte("other key"), sh),
		signToken([]byte("other key"), &forged), strings.Repeat("A", 22) + "." + token[23:]}
	before := f.store.calls.Load()
	for _, bad := range bads {
		_, err := f.shares.Open(t.Context(), bad, "", true)
		if pixpool.ErrorCode(err) != pixpool.ENOTFOUND || goneStatus(t, err) != "" {
			t.Fatalf("Open(%q)=%v, want ENOTFOUND", bad, err)
		}
	}
	if n := f.store.calls.Load() - before; n != 0 {
		t.Fatalf("bad tokens made %d store calls, want 0", n)
	}
	if got, _ := f.store.Store.Share(t.Context(), sh.ID); got.Views != 1 {
		t.Fatalf("Views=%d after bad tokens, want 1", got.Views)
	}
}

// TestShares_NewKey: a key made by another replica (or anew after a
// restore) is picked up for links signed with it.
func TestShares_NewKey(t *testing.T) {
	f := newShareFixture(t)
	_, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareImage, Key: "cats/tom.png"})
	if _, err := f.shares.Open(t.Context(), token, "", true); err != nil {
		t.Fatal(err)
	}
	// A restore drops the key; another process makes a new one.
	if err := f.store.DeleteSetting(t.Context(), ShareKeySetting); err != nil {
		t.Fatal(err)
	}
	other := &Shares{Store: f.store, Images: f.images, Now: f.shares.Now, Logger: f.shares.Logger}
	sh2, err := other.Create(t.Context(), f.owner, &pixpool.Share{Kind: pixpool.ShareAlbum, Key: "dogs/"})
	if err != nil {
		t.Fatal(err)
	}
	token2, err := other.Token(t.Context(), sh2)
	if err != nil {
		t.Fatal(err)
	}
	f.shares.mu.Lock()
	f.shares.keyRead = f.shares.keyRead.Add(-shareKeyRecheck) // as if read a while ago
	f.shares.mu.Unlock()
	if _, err := f.shares.Open(t.Context(), token2, "", true); err != nil {
		t.Fatalf("Open of a link signed with the new key=%v", err)
	}
	if _, err := f.shares.Open(t.Context(), token, "", true); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Open of a link signed with the old key=%v, want ENOTFOUND", err)
	}
}

func TestVisit_Key(t *testing.T) {
	album := &Visit{Share: &pixpool.Share{Kind: pixpool.ShareAlbum, Key: "cats/"}}
	img := &Visit{Share: &pixpool.Share{Kind: pixpool.ShareImage, Key: "cats/tom.png"}}
	for _, tt := range []struct {
		v       *Visit
		key     string
		want    string
		allowed bool
	}{
		{album, "cats/tom.png", "cats/tom.png", true},
		{album, "cats/a/b/c", "cats/a/b/c", true},
		{album, "cats/../dogs/rex.png", "cats/../dogs/rex.png", true}, // a key of its own, under the prefix
		{album, "dogs/rex.png", "", false},
		{album, "../cats/tom.png", "", false},
		{album, "cats", "", false},
		{album, "Cats/tom.png", "", false},
		{album, "", "", false},
		{album, "cats/\x00", "", false},
		{img, "", "cats/tom.png", true},
		{img, "cats/tom.png", "cats/tom.png", true},
		{img, "cats/kit.png", "", false},
	} {
		got, err := tt.v.Key(tt.key)
		if tt.allowed && (err != nil || got != tt.want) || !tt.allowed && pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Errorf("%s share of %q: Key(%q)=%q, %v; want %q, allowed %v", tt.v.Share.Kind, tt.v.Share.Key, tt.key, got, err, tt.want, tt.allowed)
		}
	}
}

func TestShares_Album(t *testing.T) {
	f := newShareFixture(t)
	_, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareAlbum, Key: "cats/"})
	v, err := f.shares.Open(t.Context(), token, "", true)
	if err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		imgs, err := f.shares.Album(t.Context(), v, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, img := range imgs {
			keys = append(keys, img.Key)
		}
		return keys
	}
	if got := strings.Join(list(), ","); got != "cats/kit.png,cats/tom.png" {
		t.Fatalf("album=%s", got)
	}
	if _, err := f.images.Put(t.Context(), f.owner, "cats/zed.png", pngOf(t, 4, 4, color.Black)); err != nil {
		t.Fatal(err)
	}
	if err := f.images.Delete(t.Context(), f.owner, "cats/kit.png"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(list(), ","); got != "cats/tom.png,cats/zed.png" {
		t.Fatalf("album after an upload and a delete=%s, want it live", got)
	}
}

// TestShares_OwnerDisabled: a disabled account's links stop working,
// counting no view, and work again once it is enabled.
func TestShares_OwnerDisabled(t *testing.T) {
	f := newShareFixture(t)
	sh, token := f.create(t, &pixpool.Share{Kind: pixpool.ShareImage, Key: "cats/tom.png", MaxViews: 2})
	v, err := f.shares.Open(t.Context(), token, "", true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.store.User(t.Context(), f.owner)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := f.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	for _, ticket := range []string{"", v.Ticket} {
		for _, count := range []bool{true, false} {
			if _, err := f.shares.Open(t.Context(), token, ticket, count); goneStatus(t, err) != ShareUnavailable {
				t.Fatalf("Open (ticket %q, count %v) of a disabled owner's link=%v, want unavailable", ticket, count, err)
			}
		}
	}
	u.Disabled = false
	if err := f.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if v, err := f.shares.Open(t.Context(), token, "", true); err != nil || v.Share.Views != 2 {
		t.Fatalf("Open once enabled=%+v, %v; want the second view", v, err)
	}
	if got, _ := f.store.Store.Share(t.Context(), sh.ID); got.Views != 2 {
		t.Fatalf("Views=%d, want 2", got.Views)
	}
}

// BenchmarkSharesOpen measures opening a link on SQLite: a forged token
// (refused by its signature alone), a counted view, and a request of a
// visit under way (ticket checked, row read).
func BenchmarkSharesOpen(b *testing.B) {
	f := &shareFixture{fixture: open(b, b.TempDir()), now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.store = &shareCallStore{Store: f.fixture.store}
	f.shares = &Shares{Store: f.store, Images: f.images, Logger: slog.New(slog.DiscardHandler)}
	if _, err := f.images.Put(b.Context(), f.owner, "k", pngOf(b, 8, 8, color.White)); err != nil {
		b.Fatal(err)
	}
	sh, err := f.shares.Create(b.Context(), f.owner, &pixpool.Share{Kind: pixpool.ShareImage, Key: "k"})
	if err != nil {
		b.Fatal(err)
	}
	token, err := f.shares.Token(b.Context(), sh)
	if err != nil {
		b.Fatal(err)
	}
	v, err := f.shares.Open(b.Context(), token, "", true)
	if err != nil {
		b.Fatal(err)
	}
	forged := signToken([]byte("not the key"), sh)
	b.Run("Forged", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.shares.Open(b.Context(), forged, "", true); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
				b.Fatal(err)
			}
		}
	})
	b.Run("View", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.shares.Open(b.Context(), token, "", true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Visit", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.shares.Open(b.Context(), token, v.Ticket, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
