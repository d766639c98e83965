package storetest

import (
	"maps"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

func testSetting(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	_, err := s.Setting(ctx, "site.name")
	wantCode(t, "Setting(missing)", err, pixpool.ENOTFOUND)

	check := func(name, want string) {
		t.Helper()
		got, err := s.Setting(ctx, name)
		if err != nil {
			t.Fatalf("Setting(%q)=%v", name, err)
		}
		if got != want {
			t.Fatalf("Setting(%q)=%q, want %q", name, got, want)
		}
	}
	steps := []struct {
		name, value string
	}{
		{"site.name", "pixpool"},
		{"site.motto", "Bilder für alle — \"quoted\" 'too'\n"},
		{"site.name", "Pix Pool"}, // replaces
		{"empty", ""},             // an empty value is not a missing one
	}
	for _, st := range steps {
		if err := s.SetSetting(ctx, st.name, st.value); err != nil {
			t.Fatalf("SetSetting(%q)=%v", st.name, err)
		}
		check(st.name, st.value)
	}
	check("site.motto", steps[1].value)

	if err := s.DeleteSetting(ctx, "site.name"); err != nil {
		t.Fatalf("DeleteSetting()=%v", err)
	}
	_, err = s.Setting(ctx, "site.name")
	wantCode(t, "Setting(deleted)", err, pixpool.ENOTFOUND)
	check("site.motto", steps[1].value)
	for _, name := range []string{"site.name", "never"} {
		if err := s.DeleteSetting(ctx, name); err != nil {
			t.Fatalf("DeleteSetting(%q)=%v, want nil for a missing setting", name, err)
		}
	}
	if err := s.SetSetting(ctx, "site.name", "again"); err != nil {
		t.Fatalf("SetSetting()=%v", err)
	}
	check("site.name", "again")
}

func testSettings(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	check := func(want map[string]string) {
		t.Helper()
		got, err := s.Settings(ctx)
		if err != nil {
			t.Fatalf("Settings()=%v", err)
		}
		if got == nil {
			t.Fatalf("Settings()=nil, want an empty map")
		}
		if !maps.Equal(got, want) {
			t.Fatalf("Settings()=%q, want %q", got, want)
		}
	}
	check(map[string]string{})

	want := map[string]string{
		"site.name":  "pixpool",
		"site.motto": "Bilder für alle\n",
		"empty":      "",
	}
	for name, value := range want {
		if err := s.SetSetting(ctx, name, value); err != nil {
			t.Fatalf("SetSetting(%q)=%v", name, err)
		}
	}
	check(want)

	if err := s.DeleteSetting(ctx, "site.name"); err != nil {
		t.Fatalf("DeleteSetting()=%v", err)
	}
	delete(want, "site.name")
	check(want)
}

func testLoginFailures(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	const (
		user  = "user:ada"
		ip    = "ip:192.0.2.1"
		other = "ip:198.51.100.7"
	)
	record := func(at time.Time, keys ...string) {
		t.Helper()
		if err := s.RecordLoginFailure(ctx, keys, at); err != nil {
			t.Fatalf("RecordLoginFailure(%q)=%v", keys, err)
		}
	}
	count := func(key string, since time.Time, want int) {
		t.Helper()
		got, err := s.LoginFailures(ctx, key, since)
		if err != nil {
			t.Fatalf("LoginFailures(%q)=%v", key, err)
		}
		if got != want {
			t.Fatalf("LoginFailures(%q, %v)=%d, want %d", key, since, got, want)
		}
	}

	count(user, t0.Add(-24*time.Hour), 0)
	record(t0.Add(-2*time.Hour), user, ip)
	record(t0.Add(-30*time.Minute), user)
	record(t0.Add(-time.Minute), user, ip)
	record(t0.Add(-time.Minute), other)
	record(t0) // no keys: nothing to note

	tests := []struct {
		key   string
		since time.Duration // before t0
		want  int
	}{
		{user, 3 * time.Hour, 3},
		{user, time.Hour, 2},
		{user, 10 * time.Minute, 1},
		{user, 0, 0},
		{ip, 3 * time.Hour, 2},
		{ip, time.Hour, 1},
		{other, time.Hour, 1},
		{"user:bob", 3 * time.Hour, 0},
		{"USER:ADA", 3 * time.Hour, 0},
	}
	for _, tt := range tests {
		count(tt.key, t0.Add(-tt.since), tt.want)
	}

	// A good login as ada forgets her failures, and every failure older
	// than an hour; the IP's recent failure stays.
	if err := s.ClearLoginFailures(ctx, user, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("ClearLoginFailures()=%v", err)
	}
	count(user, t0.Add(-3*time.Hour), 0)
	count(ip, t0.Add(-3*time.Hour), 1)
	count(other, t0.Add(-3*time.Hour), 1)

	record(t0, user)
	count(user, t0.Add(-time.Second), 1)
}
