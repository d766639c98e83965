package storetest

import (
	"maps"
	"testing"

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
