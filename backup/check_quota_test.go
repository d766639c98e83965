package backup

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

// TestRestoreRefusesBadQuotas: quotas and a storage policy that pixpool
// itself refuses to store (negative quotas, which read as no limit; a
// policy that does not parse, which would fail every upload and the
// policy page) are refused before anything changes.
func TestRestoreRefusesBadQuotas(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	good := archiveBytes(t, f)
	before := export(t, f.store)
	withPolicy := func(value string) []byte {
		return rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			files["settings.jsonl"] = append(files["settings.jsonl"], []byte(`{"name":"storage.policy","value":`+value+"}\n")...)
		})
	}
	for _, tt := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"negative byte quota", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			editRows(t, files, "users", func(n int, u map[string]any) bool {
				if n == 2 {
					u["quota_bytes"] = -1
				}
				return true
			})
		}), `users row 2: user "bob": the byte quota must be 0 (no limit) or more`},
		{"negative image quota", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			editRows(t, files, "users", func(n int, u map[string]any) bool {
				if n == 1 {
					u["quota_images"] = -5
				}
				return true
			})
		}), `users row 1: user "ada": the image quota must be 0 (no limit) or more`},
		{"policy not JSON", withPolicy(`"{oops"`), "storage policy"},
		{"negative default quota", withPolicy(`"{\"quota_bytes\":-1,\"trash_days\":30}"`), "The default byte quota must be 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Restore(ctx, bytes.NewReader(tt.archive), RestoreOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore = %v; want an error saying %q", err, tt.want)
			}
			if code := pixpool.ErrorCode(err); code != pixpool.EINVALID {
				t.Errorf("error code %s for %v; want %s", code, err, pixpool.EINVALID)
			}
			if after := export(t, f.store); !reflect.DeepEqual(before, after) {
				t.Fatal("the store changed")
			}
		})
	}
	// A valid policy restores.
	if _, err := f.svc.Restore(ctx, bytes.NewReader(withPolicy(`"{\"quota_bytes\":1048576,\"trash_days\":7}"`)), RestoreOptions{}); err != nil {
		t.Fatalf("Restore(valid policy)=%v", err)
	}
}
