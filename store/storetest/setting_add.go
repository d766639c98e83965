package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pixpool/pixpool"
)

func testAddSetting(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	add := func(name, value, want string) {
		t.Helper()
		got, err := s.AddSetting(ctx, name, value)
		if err != nil {
			t.Fatalf("AddSetting(%q, %q)=%v", name, value, err)
		}
		if got != want {
			t.Fatalf("AddSetting(%q, %q)=%q, want %q", name, value, got, want)
		}
		if got, err := s.Setting(ctx, name); err != nil || got != want {
			t.Fatalf("Setting(%q)=%q, %v after AddSetting, want %q", name, got, err, want)
		}
	}
	add("share.key", "first", "first")
	add("share.key", "second", "first") // kept, not replaced
	add("empty", "", "")
	add("empty", "not empty", "") // an empty value is a stored one
	if err := s.SetSetting(ctx, "share.key", "set"); err != nil {
		t.Fatalf("SetSetting()=%v", err)
	}
	add("share.key", "third", "set")
	if err := s.DeleteSetting(ctx, "share.key"); err != nil {
		t.Fatalf("DeleteSetting()=%v", err)
	}
	add("share.key", "after delete", "after delete")
}

// testAddSettingConcurrent is replicas making a signing key on first use
// at the same moment: all must end up with the same one.
func testAddSettingConcurrent(t *testing.T, s pixpool.Store) {
	const n = 10
	var (
		wg  sync.WaitGroup
		got = make([]string, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.AddSetting(t.Context(), "variants.key", fmt.Sprintf("key%d", i))
			if err != nil {
				t.Errorf("AddSetting(key%d)=%v", i, err)
			}
			got[i] = v
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored, err := s.Setting(t.Context(), "variants.key")
	if err != nil {
		t.Fatalf("Setting()=%v", err)
	}
	for i, v := range got {
		if v != stored {
			t.Fatalf("AddSetting(key%d)=%q, stored is %q; every caller must get the stored value", i, v, stored)
		}
	}
}
