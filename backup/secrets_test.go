package backup

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/pixpool/pixpool"
)

// TestRestoreRefusesSecretsInArchive: an archive made to carry the secrets
// no backup holds (NotBackedUp) does not bring them in. One the restore
// keeps (KeepOnRestore) keeps the running server's value; the others end
// up absent, so that a fresh one is made: a crafted share.key must not
// make links signed with it work, old ones included.
func TestRestoreRefusesSecretsInArchive(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	crafted := rewrite(t, archiveBytes(t, f), false, func(files map[string][]byte, m *Manifest) {
		for _, name := range NotBackedUp {
			files["settings.jsonl"] = append(files["settings.jsonl"], fmt.Appendf(nil, `{"name":%q,"value":"crafted"}`+"\n", name)...)
		}
	})
	for _, name := range NotBackedUp {
		if err := f.store.SetSetting(ctx, name, "current-"+name); err != nil {
			t.Fatal(err)
		}
	}
	var after map[string]string
	f.svc.AfterRestore = func(ctx context.Context, settings map[string]string) error {
		after = settings
		return nil
	}
	rep, err := f.svc.Restore(ctx, bytes.NewReader(crafted), RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.store.Setting(ctx, "custom"); v != "value" {
		t.Fatalf("custom after restore = %q, want the backup's", v)
	}
	for _, name := range NotBackedUp {
		v, err := f.store.Setting(ctx, name)
		if slices.Contains(KeepOnRestore, name) {
			if v != "current-"+name {
				t.Errorf("%s after restore = %q, %v; want the running server's", name, v, err)
			}
		} else if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Errorf("%s after restore = %q, %v; want it absent", name, v, err)
		}
		if v, ok := after[name]; ok {
			t.Errorf("AfterRestore got %s=%q from the archive", name, v)
		}
	}
	if len(rep.Warnings) == 0 {
		t.Errorf("Report.Warnings empty; want one saying the archive's secrets were not restored")
	}
}
