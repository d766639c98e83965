package storetest

import (
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// testAuthGeneration checks that every change that can end a session's or
// an API key's authority bumps AuthGeneration and AuthChanges, and that
// the hot paths (a login, a key's use, an upload) bump neither.
func testAuthGeneration(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	other := createUser(t, s, "bob")
	later := time.Now().Add(time.Hour)
	gen := func() int64 {
		t.Helper()
		g, err := s.AuthGeneration(ctx)
		if err != nil {
			t.Fatalf("AuthGeneration()=%v", err)
		}
		return g
	}
	step := func(name string, wantBump bool, fn func() error) {
		t.Helper()
		g0, c0 := gen(), s.AuthChanges()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		g1, c1 := gen(), s.AuthChanges()
		if bumped := g1 != g0; bumped != wantBump {
			t.Errorf("%s: AuthGeneration %d -> %d, want changed=%v", name, g0, g1, wantBump)
		}
		if wantBump && c1 <= c0 {
			t.Errorf("%s: AuthChanges %d -> %d, want more", name, c0, c1)
		}
	}

	step("CreateSession", false, func() error {
		return s.CreateSession(ctx, &pixpool.Session{TokenHash: "s1", UserID: u.ID, CSRFToken: "c", CreatedAt: time.Now(), ExpiresAt: later})
	})
	k := &pixpool.APIKey{UserID: u.ID, Name: "k", Prefix: "pp_k", Hash: "hash-k"}
	step("CreateAPIKey", false, func() error { return s.CreateAPIKey(ctx, k) })
	step("TouchAPIKey", false, func() error { return s.TouchAPIKey(ctx, k.ID, time.Now()) })
	step("PutImage", false, func() error {
		_, err := s.PutImage(ctx, &pixpool.Image{OwnerID: u.ID, Key: "a", BlobKey: "img/a", Size: 1, ContentType: "image/png", Checksum: "x"})
		return err
	})
	step("SetSetting", false, func() error { return s.SetSetting(ctx, "x", "y") })
	step("CreateUser", false, func() error { return s.CreateUser(ctx, newUser("cy"), "hash") })

	step("DeleteSession", true, func() error { return s.DeleteSession(ctx, "s1") })
	createSession(t, s, u.ID, "s2", later)
	createSession(t, s, u.ID, "s3", later)
	step("DeleteUserSessions", true, func() error { return s.DeleteUserSessions(ctx, u.ID, "s2") })
	createSession(t, s, u.ID, "s4", time.Now().Add(-time.Hour))
	step("DeleteExpiredSessions", true, func() error {
		_, err := s.DeleteExpiredSessions(ctx, time.Now())
		return err
	})
	step("DeleteAPIKey", true, func() error { return s.DeleteAPIKey(ctx, u.ID, k.ID) })
	step("SetPasswordHash", true, func() error { return s.SetPasswordHash(ctx, u.ID, "new") })
	step("UpdateUser/Disable", true, func() error { u.Disabled = true; return s.UpdateUser(ctx, u) })
	step("UpdateUser/Admin", true, func() error { other.Admin = true; return s.UpdateUser(ctx, other) })
	step("ImportTables", true, func() error { return restore(t, s, nil, nil) })
}
