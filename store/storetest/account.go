package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// setupHash stands for the SHA-256 of a setup token or invite code.
const setupHash = "5e7a0c0ffee5e7a0c0ffee5e7a0c0ffee5e7a0c0ffee5e7a0c0ffee5e7a0c0f"

func wantPending(t *testing.T, s pixpool.Store, now time.Time, want bool) {
	t.Helper()
	got, err := s.SetupPending(t.Context(), now)
	if err != nil || got != want {
		t.Fatalf("SetupPending(%v)=%v, %v, want %v", now, got, err, want)
	}
}

func setSetupToken(t *testing.T, s pixpool.Store, expires time.Time, want bool) {
	t.Helper()
	got, err := s.SetSetupToken(t.Context(), setupHash, expires)
	if err != nil || got != want {
		t.Fatalf("SetSetupToken()=%v, %v, want %v", got, err, want)
	}
}

func firstAdmin(username string) *pixpool.User {
	u := newUser(username)
	u.Admin = false // CreateFirstAdmin sets it
	return u
}

// testSetupToken: the token works once, before it expires, only while no
// admin exists, and never changes an existing account.
func testSetupToken(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	wantPending(t, s, t0, false)
	setSetupToken(t, s, t0.Add(time.Hour), true)
	wantPending(t, s, t0, true)
	wantPending(t, s, t0.Add(time.Hour), false) // expired

	wantCode(t, "CreateFirstAdmin(wrong token)", s.CreateFirstAdmin(ctx, firstAdmin("admin"), "h", "wrong", t0), pixpool.ENOTFOUND)
	wantCode(t, "CreateFirstAdmin(expired)", s.CreateFirstAdmin(ctx, firstAdmin("admin"), "h", setupHash, t0.Add(time.Hour)), pixpool.ENOTFOUND)

	// An ordinary account named admin is never taken over.
	plain := createUser(t, s, "Admin")
	wantCode(t, "CreateFirstAdmin(taken name)", s.CreateFirstAdmin(ctx, firstAdmin("admin"), "attacker-hash", setupHash, t0), pixpool.ECONFLICT)
	if h, _ := s.PasswordHash(ctx, plain.ID); h != "hash-Admin" {
		t.Fatalf("existing account's hash=%q after a refused setup", h)
	}
	if u, _ := s.User(ctx, plain.ID); u.Admin {
		t.Fatal("existing account became an admin")
	}
	wantPending(t, s, t0, true)

	u := firstAdmin("root")
	if err := s.CreateFirstAdmin(ctx, u, "root-hash", setupHash, t0); err != nil {
		t.Fatalf("CreateFirstAdmin()=%v", err)
	}
	if got, _ := s.User(ctx, u.ID); got == nil || !got.Admin || got.Username != "root" {
		t.Fatalf("first admin=%+v", got)
	}
	wantPending(t, s, t0, false)
	wantCode(t, "CreateFirstAdmin(again)", s.CreateFirstAdmin(ctx, firstAdmin("root2"), "h", setupHash, t0), pixpool.ENOTFOUND)
	setSetupToken(t, s, t0.Add(time.Hour), false) // an admin exists
	if n, _ := s.CountAdmins(ctx); n != 1 {
		t.Fatalf("CountAdmins()=%d, want 1", n)
	}
}

// testSetupTokenEnds: any way an admin appears deletes the token, at once
// and for good (demoting the admin again does not bring it back).
func testSetupTokenEnds(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ends := func(name string, makeAdmin func()) {
		t.Helper()
		setSetupToken(t, s, t0.Add(time.Hour), true)
		makeAdmin()
		wantCode(t, name+": CreateFirstAdmin", s.CreateFirstAdmin(ctx, firstAdmin("admin"), "h", setupHash, t0), pixpool.ENOTFOUND)
		// Demote every admin: still no token.
		users, _ := s.Users(ctx, 0, 0)
		for _, u := range users {
			if u.Admin {
				u.Admin = false
				if err := s.UpdateUser(ctx, u); err != nil {
					t.Fatalf("%s: UpdateUser()=%v", name, err)
				}
			}
		}
		wantPending(t, s, t0, false)
		wantCode(t, name+": CreateFirstAdmin after demotion", s.CreateFirstAdmin(ctx, firstAdmin("admin"), "h", setupHash, t0), pixpool.ENOTFOUND)
	}

	ends("CreateUser", func() {
		boss := newUser("boss")
		boss.Admin = true
		if err := s.CreateUser(ctx, boss, "hash-boss"); err != nil {
			t.Fatalf("CreateUser()=%v", err)
		}
	})
	ends("UpdateUser", func() {
		u := createUser(t, s, "cem")
		u.Admin = true
		if err := s.UpdateUser(ctx, u); err != nil {
			t.Fatalf("UpdateUser()=%v", err)
		}
	})

	// A restore that brings an admin back ends the token; the backup
	// never holds it.
	boss, _ := s.UserByUsername(ctx, "boss")
	boss.Admin = true
	if err := s.UpdateUser(ctx, boss); err != nil {
		t.Fatal(err)
	}
	rows := export(t, s)
	for _, r := range rows {
		if strings.Contains(fmt.Sprint(r.row...), setupHash) {
			t.Fatalf("backup row %s %v holds the setup token", r.table.Name, r.row)
		}
	}
	boss.Admin = false
	if err := s.UpdateUser(ctx, boss); err != nil {
		t.Fatal(err)
	}
	setSetupToken(t, s, t0.Add(time.Hour), true)
	for _, r := range rows {
		if strings.Contains(fmt.Sprint(r.row...), setupHash) {
			t.Fatalf("backup row %s %v holds the setup token", r.table.Name, r.row)
		}
	}
	if err := restore(t, s, nil, rows); err != nil {
		t.Fatalf("ImportTables()=%v", err)
	}
	wantCode(t, "restore: CreateFirstAdmin", s.CreateFirstAdmin(ctx, firstAdmin("admin"), "h", setupHash, t0), pixpool.ENOTFOUND)
	boss, _ = s.UserByUsername(ctx, "boss")
	boss.Admin = false
	if err := s.UpdateUser(ctx, boss); err != nil {
		t.Fatal(err)
	}
	wantPending(t, s, t0, false)
}

// testSetupTokenConcurrent: many uses of one token at once make one admin.
func testSetupTokenConcurrent(t *testing.T, s pixpool.Store) {
	setSetupToken(t, s, t0.Add(time.Hour), true)
	const n = 8
	var (
		wg sync.WaitGroup
		ok = make(chan int, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateFirstAdmin(t.Context(), firstAdmin(fmt.Sprintf("admin%d", i)), "h", setupHash, t0)
			if err == nil {
				ok <- i
			} else if c := pixpool.ErrorCode(err); c != pixpool.ENOTFOUND {
				t.Errorf("CreateFirstAdmin()=%v, want nil or ENOTFOUND", err)
			}
		}()
	}
	wg.Wait()
	close(ok)
	if len(ok) != 1 {
		t.Fatalf("%d concurrent CreateFirstAdmin succeeded, want 1", len(ok))
	}
	if n, _ := s.CountAdmins(t.Context()); n != 1 {
		t.Fatalf("CountAdmins()=%d, want 1", n)
	}
}

// attemptLimit: 3 attempts at once, then waits of 10 s, 20 s, 40 s, at
// most 60 s; forgotten after an hour.
var attemptLimit = pixpool.AttemptLimit{Free: 3, Delay: 10 * time.Second, MaxDelay: time.Minute, Forget: time.Hour}

func take(t *testing.T, s pixpool.Store, key string, at time.Time, want time.Duration) {
	t.Helper()
	got, err := s.TakeAttempt(t.Context(), key, at, attemptLimit)
	if err != nil {
		t.Fatalf("TakeAttempt(%q, %v)=%v", key, at, err)
	}
	if d := got - want; d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("TakeAttempt(%q, +%v)=%v, want %v", key, at.Sub(t0), got, want)
	}
}

func testAttempts(t *testing.T, s pixpool.Store) {
	const key, other = "user:ada", "ip:192.0.2.1"
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	take(t, s, key, at(0), 0)
	take(t, s, key, at(0), 0)
	take(t, s, key, at(0), 0) // the 3rd: the next must wait 10 s
	take(t, s, key, at(time.Second), 9*time.Second)
	take(t, s, other, at(time.Second), 0)  // keys are apart
	take(t, s, key, at(10*time.Second), 0) // the 4th: 20 s
	take(t, s, key, at(29*time.Second), time.Second)
	take(t, s, key, at(30*time.Second), 0) // the 5th: 40 s
	take(t, s, key, at(70*time.Second), 0) // the 6th: 80 s, at most 60
	take(t, s, key, at(71*time.Second), 59*time.Second)
	take(t, s, key, at(130*time.Second), 0)

	// Returning attempts lowers the count, not the wait already set.
	for range 4 {
		if err := s.ReturnAttempt(t.Context(), key); err != nil {
			t.Fatalf("ReturnAttempt()=%v", err)
		}
	}
	take(t, s, key, at(131*time.Second), 59*time.Second)
	take(t, s, key, at(190*time.Second), 0) // the 4th again: 20 s
	take(t, s, key, at(191*time.Second), 19*time.Second)
	if err := s.ReturnAttempt(t.Context(), "user:nobody"); err != nil {
		t.Fatalf("ReturnAttempt(missing)=%v", err)
	}

	// An hour without an attempt forgets the count.
	take(t, s, key, at(190*time.Second+time.Hour+time.Millisecond), 0)
	take(t, s, key, at(190*time.Second+time.Hour+2*time.Millisecond), 0)

	// Clearing forgets the key, and every key idle since before.
	if err := s.ClearAttempts(t.Context(), key, at(30*time.Minute)); err != nil {
		t.Fatalf("ClearAttempts()=%v", err)
	}
	for range 3 {
		take(t, s, key, at(2*time.Hour), 0)
		take(t, s, other, at(2*time.Hour), 0)
	}
	take(t, s, key, at(2*time.Hour), 10*time.Second)
	take(t, s, other, at(2*time.Hour), 10*time.Second) // idle since +1s: cleared too

	// Keys hold whatever a client typed.
	for _, k := range []string{"user:\x00", "user:\xff", "user:" + strings.Repeat("é", 300)} {
		take(t, s, k, at(0), 0)
	}
}

// testAttemptsConcurrent: a burst of attempts at one moment gets exactly
// the free ones through.
func testAttemptsConcurrent(t *testing.T, s pixpool.Store) {
	const n = 20
	var (
		wg     sync.WaitGroup
		passed = make(chan struct{}, n)
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait, err := s.TakeAttempt(t.Context(), "user:ada", t0, attemptLimit)
			if err != nil {
				t.Errorf("TakeAttempt()=%v", err)
			} else if wait == 0 {
				passed <- struct{}{}
			}
		}()
	}
	wg.Wait()
	if got := len(passed); got != attemptLimit.Free {
		t.Fatalf("%d of %d concurrent attempts passed, want %d", got, n, attemptLimit.Free)
	}
}

func testInvites(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	boss := createUser(t, s, "boss")
	inv := &pixpool.Invite{Hash: setupHash, Prefix: "inv_ab", CreatedBy: boss.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateInvite(ctx, inv); err != nil || inv.ID == 0 {
		t.Fatalf("CreateInvite()=%v, id %d", err, inv.ID)
	}
	old := &pixpool.Invite{Hash: "old", Prefix: "inv_cd", CreatedBy: boss.ID, CreatedAt: t0.Add(-2 * time.Hour), ExpiresAt: t0.Add(-time.Hour)}
	if err := s.CreateInvite(ctx, old); err != nil {
		t.Fatalf("CreateInvite()=%v", err)
	}
	wantCode(t, "CreateInvite(same hash)", s.CreateInvite(ctx, &pixpool.Invite{Hash: "old", CreatedAt: t0, ExpiresAt: t0}), pixpool.ECONFLICT)

	list, err := s.Invites(ctx)
	if err != nil || len(list) != 2 || list[0].ID != inv.ID || list[1].ID != old.ID {
		t.Fatalf("Invites()=%v, %v", list, err)
	}
	got := list[0]
	if got.Hash != inv.Hash || got.Prefix != "inv_ab" || got.CreatedBy != boss.ID || got.UsedBy != 0 {
		t.Fatalf("invite=%+v", got)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, t0)
	checkTime(t, "ExpiresAt", got.ExpiresAt, t0.Add(time.Hour))
	checkTime(t, "UsedAt", got.UsedAt, time.Time{})

	wantCode(t, "expired", s.CreateUserWithInvite(ctx, newUser("ada"), "h", "old", t0), pixpool.EINVALID)
	wantCode(t, "wrong", s.CreateUserWithInvite(ctx, newUser("ada"), "h", "nope", t0), pixpool.EINVALID)
	wantCode(t, "at expiry", s.CreateUserWithInvite(ctx, newUser("ada"), "h", setupHash, t0.Add(time.Hour)), pixpool.EINVALID)
	// A taken username leaves the invite unused.
	wantCode(t, "taken", s.CreateUserWithInvite(ctx, newUser("BOSS"), "h", setupHash, t0), pixpool.ECONFLICT)

	// One invite, many sign-ups at once: one account.
	const n = 6
	var (
		wg sync.WaitGroup
		ok = make(chan *pixpool.User, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := newUser(fmt.Sprintf("user%d", i))
			if err := s.CreateUserWithInvite(ctx, u, "h", setupHash, t0.Add(time.Minute)); err == nil {
				ok <- u
			} else if pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Errorf("CreateUserWithInvite()=%v", err)
			}
		}()
	}
	wg.Wait()
	close(ok)
	if len(ok) != 1 {
		t.Fatalf("%d sign-ups with one invite, want 1", len(ok))
	}
	u := <-ok
	list, _ = s.Invites(ctx)
	if list[0].UsedBy != u.ID {
		t.Fatalf("invite used by %d, want %d", list[0].UsedBy, u.ID)
	}
	checkTime(t, "UsedAt", list[0].UsedAt, t0.Add(time.Minute))
	if users, _ := s.Users(ctx, 0, 0); len(users) != 2 {
		t.Fatalf("%d users, want boss and one invitee", len(users))
	}

	if err := s.DeleteInvite(ctx, old.ID); err != nil {
		t.Fatalf("DeleteInvite()=%v", err)
	}
	wantCode(t, "DeleteInvite(again)", s.DeleteInvite(ctx, old.ID), pixpool.ENOTFOUND)
	if list, _ := s.Invites(ctx); len(list) != 1 {
		t.Fatalf("Invites()=%v after delete", list)
	}
}
