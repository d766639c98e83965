package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// t0 is a fixed instant with a sub-millisecond part and a zone other
// than UTC.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, zone)

func createSession(t *testing.T, s pixpool.Store, userID int64, tokenHash string, expiresAt time.Time) *pixpool.Session {
	t.Helper()
	sess := &pixpool.Session{
		TokenHash: tokenHash,
		UserID:    userID,
		CSRFToken: "csrf-" + tokenHash,
		CreatedAt: expiresAt.Add(-24 * time.Hour),
		ExpiresAt: expiresAt,
	}
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession(%q)=%v", tokenHash, err)
	}
	return sess
}

func checkSession(t *testing.T, got, want *pixpool.Session) {
	t.Helper()
	if got.TokenHash != want.TokenHash || got.UserID != want.UserID || got.CSRFToken != want.CSRFToken {
		t.Fatalf("session=%+v, want %+v", got, want)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

// sessionsLeft returns which of hashes still name a session.
func sessionsLeft(t *testing.T, s pixpool.Store, hashes ...string) []string {
	t.Helper()
	var left []string
	for _, h := range hashes {
		_, err := s.Session(t.Context(), h)
		switch pixpool.ErrorCode(err) {
		case "":
			left = append(left, h)
		case pixpool.ENOTFOUND:
		default:
			t.Fatalf("Session(%q)=%v", h, err)
		}
	}
	return left
}

func testSession(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	want := &pixpool.Session{
		TokenHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		UserID:    u.ID,
		CSRFToken: "c2VjcmV0",
		CreatedAt: t0,
		ExpiresAt: t0.Add(30 * 24 * time.Hour),
	}
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatalf("CreateSession()=%v", err)
	}
	got, err := s.Session(ctx, want.TokenHash)
	if err != nil {
		t.Fatalf("Session()=%v", err)
	}
	checkSession(t, got, want)

	// An expired session is still returned; callers check ExpiresAt.
	old := createSession(t, s, u.ID, "old", time.Now().Add(-time.Hour))
	got, err = s.Session(ctx, "old")
	if err != nil {
		t.Fatalf("Session(expired)=%v", err)
	}
	checkSession(t, got, old)

	_, err = s.Session(ctx, "missing")
	wantCode(t, "Session(missing)", err, pixpool.ENOTFOUND)
}

func testDeleteSession(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	createSession(t, s, u.ID, "a", t0)
	createSession(t, s, u.ID, "b", t0)
	if err := s.DeleteSession(ctx, "a"); err != nil {
		t.Fatalf("DeleteSession()=%v", err)
	}
	if got, want := sessionsLeft(t, s, "a", "b"), []string{"b"}; !slices.Equal(got, want) {
		t.Fatalf("sessions left=%q, want %q", got, want)
	}
	for _, h := range []string{"a", "never"} {
		if err := s.DeleteSession(ctx, h); err != nil {
			t.Fatalf("DeleteSession(%q)=%v, want nil for a missing session", h, err)
		}
	}
}

func testDeleteUserSessions(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	for _, h := range []string{"a1", "a2", "a3"} {
		createSession(t, s, ada.ID, h, t0)
	}
	createSession(t, s, bob.ID, "b1", t0)
	all := []string{"a1", "a2", "a3", "b1"}

	if err := s.DeleteUserSessions(ctx, ada.ID, "a2"); err != nil {
		t.Fatalf("DeleteUserSessions()=%v", err)
	}
	if got, want := sessionsLeft(t, s, all...), []string{"a2", "b1"}; !slices.Equal(got, want) {
		t.Fatalf("sessions left=%q, want %q", got, want)
	}
	if err := s.DeleteUserSessions(ctx, ada.ID, ""); err != nil {
		t.Fatalf("DeleteUserSessions()=%v", err)
	}
	if got, want := sessionsLeft(t, s, all...), []string{"b1"}; !slices.Equal(got, want) {
		t.Fatalf("sessions left=%q, want %q", got, want)
	}
}

func testDeleteExpiredSessions(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	now := t0
	createSession(t, s, u.ID, "long-gone", now.Add(-24*time.Hour))
	createSession(t, s, u.ID, "just-gone", now.Add(-time.Second))
	createSession(t, s, u.ID, "live", now.Add(time.Second))
	createSession(t, s, u.ID, "long-live", now.Add(24*time.Hour))

	for _, want := range []int{2, 0} {
		n, err := s.DeleteExpiredSessions(ctx, now)
		if err != nil {
			t.Fatalf("DeleteExpiredSessions()=%v", err)
		}
		if n != want {
			t.Fatalf("DeleteExpiredSessions()=%d, want %d", n, want)
		}
	}
	got := sessionsLeft(t, s, "long-gone", "just-gone", "live", "long-live")
	if want := []string{"live", "long-live"}; !slices.Equal(got, want) {
		t.Fatalf("sessions left=%q, want %q", got, want)
	}
}

func createAPIKey(t *testing.T, s pixpool.Store, userID int64, name string) *pixpool.APIKey {
	t.Helper()
	k := &pixpool.APIKey{UserID: userID, Name: name, Prefix: "pp_" + name, Hash: "hash-" + name}
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey(%q)=%v", name, err)
	}
	return k
}

func checkAPIKey(t *testing.T, got, want *pixpool.APIKey) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Name != want.Name ||
		got.Prefix != want.Prefix || got.Hash != want.Hash {
		t.Fatalf("API key=%+v, want %+v", got, want)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
}

func apiKeyNames(keys []*pixpool.APIKey) []string {
	var names []string
	for _, k := range keys {
		names = append(names, k.Name)
	}
	return names
}

func testAPIKey(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	k := &pixpool.APIKey{UserID: u.ID, Name: "laptop 'backup' 💾", Prefix: "pp_3Fa9", Hash: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}
	before := time.Now()
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey()=%v", err)
	}
	after := time.Now()
	if k.ID == 0 {
		t.Fatalf("ID=0, want it set")
	}
	checkBetween(t, "CreatedAt", k.CreatedAt, before, after)

	got, err := s.APIKeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("APIKeyByHash()=%v", err)
	}
	checkAPIKey(t, got, k)
	if !got.LastUsedAt.IsZero() {
		t.Fatalf("LastUsedAt=%v, want zero for a new key", got.LastUsedAt)
	}

	k2 := createAPIKey(t, s, u.ID, "ci")
	if k2.ID == k.ID {
		t.Fatalf("second key's ID=%d, same as the first's", k2.ID)
	}
	_, err = s.APIKeyByHash(ctx, "missing")
	wantCode(t, "APIKeyByHash(missing)", err, pixpool.ENOTFOUND)
}

func testAPIKeys(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	var want []*pixpool.APIKey
	for _, name := range []string{"k1", "k2", "k3"} {
		want = append(want, createAPIKey(t, s, ada.ID, name))
	}
	createAPIKey(t, s, bob.ID, "b1")
	slices.Reverse(want)

	got, err := s.APIKeys(ctx, ada.ID)
	if err != nil {
		t.Fatalf("APIKeys()=%v", err)
	}
	if names, wantNames := apiKeyNames(got), apiKeyNames(want); !slices.Equal(names, wantNames) {
		t.Fatalf("APIKeys()=%q, want %q", names, wantNames)
	}
	for i := range want {
		checkAPIKey(t, got[i], want[i])
	}

	tests := []struct {
		userID int64
		want   []string
	}{
		{bob.ID, []string{"b1"}},
		{bob.ID + ada.ID + 1000, nil},
	}
	for _, tt := range tests {
		got, err := s.APIKeys(ctx, tt.userID)
		if err != nil {
			t.Fatalf("APIKeys(%d)=%v", tt.userID, err)
		}
		if names := apiKeyNames(got); !slices.Equal(names, tt.want) {
			t.Fatalf("APIKeys(%d)=%q, want %q", tt.userID, names, tt.want)
		}
	}
}

func testTouchAPIKey(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	k := createAPIKey(t, s, u.ID, "k")
	other := createAPIKey(t, s, u.ID, "other")

	for _, at := range []time.Time{t0, t0.Add(time.Hour + 1)} {
		if err := s.TouchAPIKey(ctx, k.ID, at); err != nil {
			t.Fatalf("TouchAPIKey()=%v", err)
		}
		k.LastUsedAt = at
		got, err := s.APIKeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("APIKeyByHash()=%v", err)
		}
		checkAPIKey(t, got, k)
	}
	keys, err := s.APIKeys(ctx, u.ID)
	if err != nil {
		t.Fatalf("APIKeys()=%v", err)
	}
	if got, want := len(keys), 2; got != want {
		t.Fatalf("len(APIKeys())=%d, want %d", got, want)
	}
	checkAPIKey(t, keys[0], other)
	checkAPIKey(t, keys[1], k)

	err = s.TouchAPIKey(ctx, k.ID+other.ID+1000, t0)
	wantCode(t, "TouchAPIKey(missing)", err, pixpool.ENOTFOUND)
}

func testDeleteAPIKey(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	k := createAPIKey(t, s, ada.ID, "k")
	keep := createAPIKey(t, s, ada.ID, "keep")

	// Bob cannot delete Ada's key, nor learn that it exists.
	wantCode(t, "DeleteAPIKey(another's)", s.DeleteAPIKey(ctx, bob.ID, k.ID), pixpool.ENOTFOUND)
	if _, err := s.APIKeyByHash(ctx, k.Hash); err != nil {
		t.Fatalf("APIKeyByHash() after another user's delete=%v", err)
	}

	if err := s.DeleteAPIKey(ctx, ada.ID, k.ID); err != nil {
		t.Fatalf("DeleteAPIKey()=%v", err)
	}
	_, err := s.APIKeyByHash(ctx, k.Hash)
	wantCode(t, "APIKeyByHash(deleted)", err, pixpool.ENOTFOUND)
	wantCode(t, "DeleteAPIKey(deleted)", s.DeleteAPIKey(ctx, ada.ID, k.ID), pixpool.ENOTFOUND)

	keys, err := s.APIKeys(ctx, ada.ID)
	if err != nil {
		t.Fatalf("APIKeys()=%v", err)
	}
	if got, want := apiKeyNames(keys), []string{keep.Name}; !slices.Equal(got, want) {
		t.Fatalf("APIKeys()=%q, want %q", got, want)
	}
}
