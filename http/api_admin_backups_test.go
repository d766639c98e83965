package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
)

// backupListJSON decodes GET /api/v1/admin/backups.
type backupListJSON struct {
	Backups []backupJSON
	Config  backup.Config
}

func TestAdminAPI_Backups(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: noPool})
	ctx := context.Background()

	var list backupListJSON
	f.call("GET", "/api/v1/admin/backups", "", 200, &list)
	if len(list.Backups) != 0 || list.Config != (backup.Config{Schedule: "03:00", Keep: 3}) {
		t.Fatalf("new install: %+v", list)
	}

	var bk backupJSON
	f.call("POST", "/api/v1/admin/backups", "", 201, &bk)
	if bk.Status != "ok" || bk.Trigger != "api" || bk.By != f.admin.Username || bk.Size == 0 || len(bk.SHA256) != 64 ||
		bk.Rows["users"] != 2 || bk.Rows["api_keys"] != 2 || backup.ValidName(bk.Name) != nil {
		t.Fatalf("backup %+v", bk)
	}
	f.call("GET", "/api/v1/admin/backups", "", 200, &list)
	if len(list.Backups) != 1 || list.Backups[0].Name != bk.Name {
		t.Fatalf("list %+v", list)
	}
	var one backupJSON
	f.call("GET", "/api/v1/admin/backups/"+bk.Name, "", 200, &one)
	if one.Name != bk.Name || one.SHA256 != bk.SHA256 {
		t.Fatalf("info %+v", one)
	}

	t.Run("Download", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/admin/backups/"+bk.Name+"/archive", nil)
		req.Header.Set("Authorization", "Bearer "+f.adminKey)
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		sum := sha256.Sum256(buf.Bytes())
		if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != bk.SHA256 || int64(buf.Len()) != bk.Size {
			t.Fatalf("download: status %d, %d bytes", resp.StatusCode, buf.Len())
		}
		h := resp.Header
		if h.Get("Content-Type") != "application/gzip" || h.Get("Content-Length") != strconv.FormatInt(bk.Size, 10) ||
			h.Get("Content-Disposition") != `attachment; filename="pixpool-`+bk.Name+`.tar.gz"` {
			t.Fatalf("headers %v", h)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		for _, path := range []string{"backup-20000101-000000-abcdef", "nope", "backup-20000101-000000-abcdef/archive", "..%2Fimg"} {
			wantAPIError(t, f.call("GET", "/api/v1/admin/backups/"+path, "", 404, nil), pixpool.ENOTFOUND)
		}
		wantAPIError(t, f.call("POST", "/api/v1/admin/backups/backup-20000101-000000-abcdef/restore", "", 404, nil), pixpool.ENOTFOUND)
	})

	t.Run("Config", func(t *testing.T) {
		var cfg backup.Config
		f.call("PUT", "/api/v1/admin/backups/config", `{"schedule":"4:30","keep":5}`, 200, &cfg)
		if cfg != (backup.Config{Schedule: "04:30", Keep: 5}) {
			t.Fatalf("config %+v", cfg)
		}
		f.call("PUT", "/api/v1/admin/backups/config", `{"schedule":"off"}`, 200, &cfg)
		if cfg != (backup.Config{Schedule: "off", Keep: 5}) {
			t.Fatalf("config %+v", cfg)
		}
		for _, body := range []string{`{"schedule":"25:00"}`, `{"schedule":"3pm"}`, `{"keep":0}`, `{"keep":101}`, `{}`, `{"every":"day"}`, `[`} {
			msg := wantAPIError(t, f.call("PUT", "/api/v1/admin/backups/config", body, 400, nil), pixpool.EINVALID)
			t.Logf("%s: %s", body, msg)
		}
		f.call("GET", "/api/v1/admin/backups", "", 200, &list)
		if list.Config != (backup.Config{Schedule: "off", Keep: 5}) {
			t.Fatalf("refused changes changed the config: %+v", list.Config)
		}
	})

	t.Run("Busy", func(t *testing.T) {
		// Another server holds the backup lease (backup.Service's own).
		if ok, err := f.env.Store.AcquireLease(ctx, "backup", "another server", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		defer f.env.Store.ReleaseLease(ctx, "backup", "another server")
		wantAPIError(t, f.call("POST", "/api/v1/admin/backups", "", 409, nil), pixpool.ECONFLICT)
		wantAPIError(t, f.call("POST", "/api/v1/admin/backups/"+bk.Name+"/restore", "", 409, nil), pixpool.ECONFLICT)
	})

	t.Run("Restore", func(t *testing.T) {
		bob, _ := f.addUser("bob", false) // not in the backup
		var rep restoreJSON
		f.call("POST", "/api/v1/admin/backups/"+bk.Name+"/restore", "", 200, &rep)
		if rep.Backup != bk.Name || rep.Rows["users"] != 2 || rep.MissingCount != 0 || rep.MissingImages == nil || rep.Warnings == nil {
			t.Fatalf("report %+v", rep)
		}
		if _, err := f.env.Store.User(ctx, bob.ID); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("bob after the restore: %v", err)
		}
		// The admin's API key is in the backup: it still works.
		f.call("GET", "/api/v1/me", "", 200, nil)
	})

	t.Run("Upload", func(t *testing.T) {
		_, archive := takeBackup(t, f.srv.Backups)
		if _, _, err := f.env.Accounts.CreateAPIKey(ctx, f.alice.ID, "after the backup"); err != nil {
			t.Fatal(err)
		}
		var rep restoreJSON
		f.call("POST", "/api/v1/admin/backups/restore", archive, 200, &rep)
		if rep.Rows["api_keys"] != 2 {
			t.Fatalf("report %+v", rep)
		}
		if keys, _ := f.env.Store.APIKeys(ctx, f.alice.ID); len(keys) != 1 {
			t.Fatalf("alice has %d keys after the restore", len(keys))
		}

		// A damaged archive changes nothing.
		bad := []byte(archive)
		bad[len(bad)/2] ^= 0x55
		if _, _, err := f.env.Accounts.CreateAPIKey(ctx, f.alice.ID, "kept"); err != nil {
			t.Fatal(err)
		}
		status, b := f.do("POST", "/api/v1/admin/backups/restore", f.adminKey, string(bad))
		if status != 400 {
			t.Fatalf("damaged archive: %d %s", status, b)
		}
		t.Logf("damaged archive: %s", b)
		if keys, _ := f.env.Store.APIKeys(ctx, f.alice.ID); len(keys) != 2 {
			t.Fatalf("a refused restore changed the keys: %d", len(keys))
		}
		status, b = f.do("POST", "/api/v1/admin/backups/restore", f.adminKey, "not an archive", "Content-Type", "application/octet-stream")
		if status != 400 {
			t.Fatalf("not an archive: %d %s", status, b)
		}
		status, b = f.do("POST", "/api/v1/admin/backups/restore", f.adminKey, archive, "Content-Type", "multipart/form-data; boundary=x")
		if status != 415 {
			t.Fatalf("multipart: %d %s", status, b)
		}
		wantAPIError(t, b, pixpool.EUNSUPPORTED)
	})

	t.Run("Off", func(t *testing.T) {
		srv := &Server{Accounts: f.env.Accounts, Images: f.env.Images, Store: f.env.Store, Logger: f.env.Logger}
		req := httptest.NewRequest("GET", "/api/v1/admin/backups", nil)
		req.Header.Set("Authorization", "Bearer "+f.adminKey)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("without a backup service: %d %s", rec.Code, rec.Body)
		}
	})
}
