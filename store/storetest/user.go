package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// newUser returns a valid user, not yet stored.
func newUser(username string) *pixpool.User {
	return &pixpool.User{
		Username:  username,
		FirstName: "Ada",
		LastName:  "Lovelace",
		Email:     "ada@example.org",
		Birthday:  time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC),
		Phone:     "+44 20 7946 0000",
	}
}

// createUser stores a new user with the password hash "hash-" + username.
func createUser(t *testing.T, s pixpool.Store, username string) *pixpool.User {
	t.Helper()
	u := newUser(username)
	if err := s.CreateUser(t.Context(), u, "hash-"+username); err != nil {
		t.Fatalf("CreateUser(%q)=%v", username, err)
	}
	return u
}

// checkUser fails t unless got has want's fields.
func checkUser(t *testing.T, got, want *pixpool.User) {
	t.Helper()
	if got.ID != want.ID || got.Username != want.Username || got.FirstName != want.FirstName ||
		got.LastName != want.LastName || got.Email != want.Email || got.Phone != want.Phone ||
		got.Admin != want.Admin || got.Disabled != want.Disabled {
		t.Fatalf("user=%+v, want %+v", got, want)
	}
	if !got.Birthday.Equal(want.Birthday) || got.Birthday.Location() != time.UTC {
		t.Fatalf("Birthday=%v, want %v", got.Birthday, want.Birthday)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func usernames(users []*pixpool.User) []string {
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

func testCreateUser(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := newUser("ada")
	u.Admin = true
	before := time.Now()
	if err := s.CreateUser(ctx, u, "hash"); err != nil {
		t.Fatalf("CreateUser()=%v", err)
	}
	after := time.Now()
	if u.ID == 0 {
		t.Fatalf("ID=0, want it set")
	}
	checkBetween(t, "CreatedAt", u.CreatedAt, before, after)
	checkTime(t, "UpdatedAt", u.UpdatedAt, u.CreatedAt)

	got, err := s.User(ctx, u.ID)
	if err != nil {
		t.Fatalf("User()=%v", err)
	}
	checkUser(t, got, u)

	v := createUser(t, s, "bob")
	if v.ID == u.ID {
		t.Fatalf("second user's ID=%d, same as the first's", v.ID)
	}
	if got, err := s.User(ctx, v.ID); err != nil {
		t.Fatalf("User()=%v", err)
	} else if got.Admin {
		t.Fatalf("Admin=true, want false")
	}
}

func testCreateUserConflict(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	createUser(t, s, "ada")
	for _, name := range []string{"ada", "ADA", "aDa"} {
		t.Run(name, func(t *testing.T) {
			err := s.CreateUser(ctx, newUser(name), "hash")
			wantCode(t, "CreateUser", err, pixpool.ECONFLICT)
		})
	}
	users, err := s.Users(ctx, 0, 0)
	if err != nil {
		t.Fatalf("Users()=%v", err)
	}
	if got, want := len(users), 1; got != want {
		t.Fatalf("len(Users())=%d, want %d", got, want)
	}
}

func testUserNotFound(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	missing := u.ID + 1000
	tests := []struct {
		name string
		fn   func() error
	}{
		{"User", func() error { _, err := s.User(ctx, missing); return err }},
		{"UserByUsername", func() error { _, err := s.UserByUsername(ctx, "nobody"); return err }},
		{"UpdateUser", func() error {
			v := newUser("nobody")
			v.ID = missing
			return s.UpdateUser(ctx, v)
		}},
		{"PasswordHash", func() error { _, err := s.PasswordHash(ctx, missing); return err }},
		{"SetPasswordHash", func() error { return s.SetPasswordHash(ctx, missing, "other") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, tt.fn(), pixpool.ENOTFOUND)
		})
	}
	if _, err := s.UserByUsername(ctx, "nobody"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("UpdateUser of a missing user created %q", "nobody")
	}
	if got, err := s.PasswordHash(ctx, u.ID); err != nil || got != "hash-ada" {
		t.Fatalf("PasswordHash()=%q, %v, want %q", got, err, "hash-ada")
	}
}

func testUserByUsername(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "Ada.L")
	createUser(t, s, "bob")
	for _, name := range []string{"Ada.L", "ada.l", "ADA.L"} {
		got, err := s.UserByUsername(ctx, name)
		if err != nil {
			t.Fatalf("UserByUsername(%q)=%v", name, err)
		}
		checkUser(t, got, u)
	}
}

func testUpdateUser(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	created := u.CreatedAt

	tests := []struct {
		name string
		u    pixpool.User
	}{
		{"AllFields", pixpool.User{
			Username:  "Ada_King",
			FirstName: "Augusta Ada",
			LastName:  "King-Noel",
			Email:     "countess@example.com",
			Birthday:  time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC),
			Phone:     "+1 (555) 010-0200",
			Admin:     true,
			Disabled:  true,
		}},
		{"Unicode", pixpool.User{
			Username:  "ada",
			FirstName: "Zoë 'Ada'",
			LastName:  "Ångström \"O'Brien\"",
			Email:     "ada@example.org",
			Birthday:  time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
			Phone:     "0123456789",
			Admin:     true,
		}},
		{"FlagsOff", pixpool.User{
			Username:  "ada",
			FirstName: "Ada",
			LastName:  "Lovelace",
			Email:     "ada@example.org",
			Birthday:  time.Date(1990, 12, 31, 0, 0, 0, 0, time.UTC),
			Phone:     "+44 20 7946 0000",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.u
			v.ID = u.ID
			v.CreatedAt = created.Add(-48 * time.Hour) // must not be saved
			before := time.Now()
			if err := s.UpdateUser(ctx, &v); err != nil {
				t.Fatalf("UpdateUser()=%v", err)
			}
			after := time.Now()
			checkBetween(t, "UpdatedAt", v.UpdatedAt, before, after)

			got, err := s.User(ctx, u.ID)
			if err != nil {
				t.Fatalf("User()=%v", err)
			}
			want := v
			want.CreatedAt = created
			checkUser(t, got, &want)

			got, err = s.UserByUsername(ctx, v.Username)
			if err != nil {
				t.Fatalf("UserByUsername(%q)=%v", v.Username, err)
			}
			checkUser(t, got, &want)
		})
	}
	if _, err := s.UserByUsername(ctx, "Ada_King"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("UserByUsername(old name)=%v, want ENOTFOUND", err)
	}
}

func testUpdateUserConflict(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")

	for _, name := range []string{"ada", "ADA"} {
		v := *bob
		v.Username = name
		wantCode(t, "UpdateUser", s.UpdateUser(ctx, &v), pixpool.ECONFLICT)
	}
	if got, err := s.User(ctx, bob.ID); err != nil || got.Username != "bob" {
		t.Fatalf("User(bob)=%v, %v, want Username %q", got, err, "bob")
	}

	// Changing only the case of one's own username is no conflict.
	v := *ada
	v.Username = "ADA"
	if err := s.UpdateUser(ctx, &v); err != nil {
		t.Fatalf("UpdateUser(ada to ADA)=%v", err)
	}
	got, err := s.UserByUsername(ctx, "ada")
	if err != nil {
		t.Fatalf("UserByUsername()=%v", err)
	}
	if got.ID != ada.ID || got.Username != "ADA" {
		t.Fatalf("UserByUsername()=%d %q, want %d %q", got.ID, got.Username, ada.ID, "ADA")
	}
}

func testUsers(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	users, err := s.Users(ctx, 0, 10)
	if err != nil {
		t.Fatalf("Users()=%v", err)
	}
	if got, want := len(users), 0; got != want {
		t.Fatalf("len(Users())=%d, want %d", got, want)
	}
	for _, name := range []string{"carol", "Alice", "eve", "Bob", "dave"} {
		createUser(t, s, name)
	}
	all := []string{"Alice", "Bob", "carol", "dave", "eve"}
	tests := []struct {
		offset, limit int
		want          []string
	}{
		{0, 0, all},
		{0, 10, all},
		{0, 5, all},
		{0, 2, all[:2]},
		{2, 2, all[2:4]},
		{4, 2, all[4:]},
		{5, 2, nil},
		{3, 0, all[3:]},
	}
	for _, tt := range tests {
		users, err := s.Users(ctx, tt.offset, tt.limit)
		if err != nil {
			t.Fatalf("Users(%d, %d)=%v", tt.offset, tt.limit, err)
		}
		if got := usernames(users); !slices.Equal(got, tt.want) {
			t.Fatalf("Users(%d, %d)=%q, want %q", tt.offset, tt.limit, got, tt.want)
		}
	}
	users, err = s.Users(ctx, 0, 1)
	if err != nil {
		t.Fatalf("Users()=%v", err)
	}
	want, err := s.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatalf("UserByUsername()=%v", err)
	}
	checkUser(t, users[0], want)
}

func testCountAdmins(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	count := func(want int) {
		t.Helper()
		got, err := s.CountAdmins(ctx)
		if err != nil {
			t.Fatalf("CountAdmins()=%v", err)
		}
		if got != want {
			t.Fatalf("CountAdmins()=%d, want %d", got, want)
		}
	}
	count(0)
	var ada *pixpool.User
	for _, u := range []struct {
		name            string
		admin, disabled bool
	}{
		{"ada", true, false},
		{"bob", true, true},
		{"carol", false, false},
		{"dave", false, true},
	} {
		v := newUser(u.name)
		v.Admin, v.Disabled = u.admin, u.disabled
		if err := s.CreateUser(ctx, v, "hash"); err != nil {
			t.Fatalf("CreateUser(%q)=%v", u.name, err)
		}
		if u.name == "ada" {
			ada = v
		}
	}
	count(2)
	ada.Admin = false
	if err := s.UpdateUser(ctx, ada); err != nil {
		t.Fatalf("UpdateUser()=%v", err)
	}
	count(1)
}

func testPasswordHash(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	check := func(u *pixpool.User, want string) {
		t.Helper()
		got, err := s.PasswordHash(ctx, u.ID)
		if err != nil {
			t.Fatalf("PasswordHash(%q)=%v", u.Username, err)
		}
		if got != want {
			t.Fatalf("PasswordHash(%q)=%q, want %q", u.Username, got, want)
		}
	}
	check(ada, "hash-ada")
	check(bob, "hash-bob")
	const h = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
	if err := s.SetPasswordHash(ctx, ada.ID, h); err != nil {
		t.Fatalf("SetPasswordHash()=%v", err)
	}
	check(ada, h)
	check(bob, "hash-bob")
}
