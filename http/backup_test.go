package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
)

// takeBackup takes a backup through svc and returns its name and archive.
func takeBackup(t *testing.T, svc *backup.Service) (name, archive string) {
	t.Helper()
	ctx := context.Background()
	info, err := svc.Create(ctx, backup.TriggerCLI, "")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := svc.Open(ctx, info.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return info.Name, buf.String()
}

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

var restoreNameRE = regexp.MustCompile(`href="/admin/backups/restore\?name=(backup-[0-9a-f-]+)"`)

func TestAdmin_Backups(t *testing.T) {
	p := newPortal(t, noPool)
	ctx := context.Background()
	ada, _ := p.user(t, "ada")

	resp, body := p.admin.get("/admin/backups")
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, "No backups yet", `value="03:00"`, `name="keep"`, "Restore from a file", `aria-current="page">Backups`)

	// Back up now.
	resp, body = p.admin.send("/admin/backups/create", nil)
	wantRedirect(t, resp, body, "/admin/backups?msg=backup-taken")
	resp, body = p.admin.get("/admin/backups?msg=backup-taken")
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, "Backup taken, stored and verified.", "Admin portal, by boss", `<span class="badge good">ok</span>`,
		"users <strong>2</strong>", "Download")
	m := restoreNameRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no restore link:\n%s", body)
	}
	name := m[1]

	t.Run("Download", func(t *testing.T) {
		resp, body := p.admin.get("/admin/backups/" + name + "/download")
		wantStatus(t, resp, body, http.StatusOK)
		if resp.Header.Get("Content-Type") != "application/gzip" || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") ||
			!strings.HasPrefix(body, "\x1f\x8b") {
			t.Fatalf("download headers %v", resp.Header)
		}
		resp, body = ada.get("/admin/backups/" + name + "/download")
		wantStatus(t, resp, body, http.StatusNotFound)
	})

	t.Run("Config", func(t *testing.T) {
		resp, body := p.admin.send("/admin/backups/config", url.Values{"schedule": {"daily"}, "time": {"25:00"}, "keep": {"4"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "UTC time of day", `value="25:00"`)
		resp, body = p.admin.send("/admin/backups/config", url.Values{"schedule": {"daily"}, "time": {"01:15"}, "keep": {"0"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Keep 1 to 100 backups")
		resp, body = p.admin.send("/admin/backups/config", url.Values{"schedule": {"daily"}, "time": {"01:15"}, "keep": {"4"}})
		wantRedirect(t, resp, body, "/admin/backups?msg=backup-config")
		if cfg, _ := p.srv.Backups.Config(ctx); cfg != (backup.Config{Schedule: "01:15", Keep: 4}) {
			t.Fatalf("config %+v", cfg)
		}
		resp, body = p.admin.send("/admin/backups/config", url.Values{"schedule": {"off"}, "time": {"01:15"}, "keep": {"4"}})
		wantRedirect(t, resp, body, "/admin/backups?msg=backup-config")
		if cfg, _ := p.srv.Backups.Config(ctx); cfg.Schedule != "off" {
			t.Fatalf("config %+v", cfg)
		}
	})

	// Changes after the backup, which a restore undoes.
	if _, _, err := p.env.Accounts.CreateAPIKey(ctx, p.boss.ID, "after the backup"); err != nil {
		t.Fatal(err)
	}
	keysNow := func() int {
		keys, err := p.env.Store.APIKeys(ctx, p.boss.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}

	t.Run("RestoreUnconfirmed", func(t *testing.T) {
		resp, body := p.admin.get("/admin/backups/restore?name=" + name)
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, "Type <strong>RESTORE</strong> to confirm", name, "Everyone is logged out")
		for _, confirm := range []string{"", "restore", "DELETE"} {
			resp, body = p.admin.send("/admin/backups/restore", url.Values{"name": {name}, "confirm": {confirm}})
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantContains(t, body, "Type RESTORE in capitals to confirm. Nothing was restored.")
		}
		if keysNow() != 1 {
			t.Fatal("an unconfirmed restore restored")
		}
		resp, body = ada.send("/admin/backups/restore", url.Values{"name": {name}, "confirm": {"RESTORE"}})
		wantStatus(t, resp, body, http.StatusNotFound)
		resp, body = p.admin.get("/admin/backups/restore?name=backup-20000101-000000-abcdef")
		wantStatus(t, resp, body, http.StatusNotFound)
	})

	t.Run("Restore", func(t *testing.T) {
		resp, body := p.admin.send("/admin/backups/restore", url.Values{"name": {name}, "confirm": {"RESTORE"}})
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, "Restored "+name, "Rows restored", "Every restored image has its bytes", "Back up now")
		if keysNow() != 0 {
			t.Fatal("the restore kept the key made after the backup")
		}
		// ada was in the backup, but her session ended; boss's was kept.
		resp, body = ada.get("/images")
		wantRedirect(t, resp, body, "/login?next=%2Fimages")
		resp, body = p.admin.get("/admin/backups")
		wantStatus(t, resp, body, http.StatusOK)
	})

	t.Run("Upload", func(t *testing.T) {
		_, archive := takeBackup(t, p.srv.Backups)
		if _, _, err := p.env.Accounts.CreateAPIKey(ctx, p.boss.ID, "after the backup"); err != nil {
			t.Fatal(err)
		}
		resp, body := p.admin.uploadBackup(p.admin.csrf(), "", archive)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Type RESTORE in capitals")
		resp, body = p.admin.uploadBackup("", "RESTORE", archive)
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = p.admin.uploadBackup(p.admin.csrf(), "RESTORE", "not a backup")
		wantStatus(t, resp, body, http.StatusBadRequest)
		if keysNow() != 1 {
			t.Fatal("a refused upload restored")
		}
		resp, body = p.admin.uploadBackup(p.admin.csrf(), "RESTORE", archive)
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, "Restored backup-", "users</td><td class=\"num\">2")
		if keysNow() != 0 {
			t.Fatal("the upload was not restored")
		}
	})

	t.Run("LoggedOut", func(t *testing.T) {
		// grace, an admin made after the backup, restores it: her account
		// goes, and she is logged out.
		grace := &pixpool.User{Username: "grace", FirstName: "G", LastName: "H", Email: "g@example.org",
			Birthday: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0002", Admin: true}
		if err := p.env.Accounts.CreateUser(ctx, grace, adminPassword); err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, p.ts)
		b.login("grace", adminPassword, "/admin")
		resp, body := b.send("/admin/backups/restore", url.Values{"name": {name}, "confirm": {"RESTORE"}})
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, "Restored "+name, "you were logged out")
		wantLacks(t, body, "Back up now")
		resp, body = b.get("/admin/backups")
		wantRedirect(t, resp, body, "/login?next=%2Fadmin%2Fbackups")
	})
}

// uploadBackup posts the restore-from-a-file form: confirm first, then the
// file, as a browser sends it.
func (b *browser) uploadBackup(csrf, confirm, archive string) (*http.Response, string) {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("confirm", confirm)
	fw, _ := mw.CreateFormFile("file", "pixpool-backup.tar.gz")
	fw.Write([]byte(archive))
	mw.Close()
	path := "/admin/backups/upload"
	if csrf != "" {
		path += "?" + url.Values{"csrf": {csrf}}.Encode()
	}
	req, err := http.NewRequest("POST", b.base+path, &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}
