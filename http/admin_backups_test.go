package http

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
)

// restoreLinked returns the name of the backup the page's first restore
// link is for.
func restoreLinked(t *testing.T, body string) string {
	t.Helper()
	for _, a := range elements(parseHTML(t, body), "a", "href") {
		href, _ := attrValue(a, "href")
		u, err := url.Parse(href)
		if err == nil && u.Path == "/admin/backups/restore" && backup.ValidName(u.Query().Get("name")) == nil {
			return u.Query().Get("name")
		}
	}
	t.Fatalf("no restore link:\n%s", body)
	return ""
}

// newBackupsPortal starts a portal with ada, takes a backup through the
// portal, checking the page before and after, and returns the backup's
// name.
func newBackupsPortal(t *testing.T) (p *portal, ada *browser, name string) {
	t.Helper()
	p = newPortal(t, noPool)
	ada, _ = p.user(t, "ada")

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
	return p, ada, restoreLinked(t, body)
}

// keyAfterBackup makes a change after the backup, which a restore undoes:
// an API key for boss.
func keyAfterBackup(t *testing.T, p *portal) {
	t.Helper()
	if _, _, err := p.env.Accounts.CreateAPIKey(context.Background(), p.boss.ID, "after the backup"); err != nil {
		t.Fatal(err)
	}
}

// bossKeys counts boss's API keys.
func bossKeys(t *testing.T, p *portal) int {
	t.Helper()
	keys, err := p.env.Store.APIKeys(context.Background(), p.boss.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestAdmin_Backups: each subtest has a portal of its own, with a backup
// taken through it.
func TestAdmin_Backups(t *testing.T) {
	ctx := context.Background()

	t.Run("Download", func(t *testing.T) {
		p, ada, name := newBackupsPortal(t)
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
		p, _, _ := newBackupsPortal(t)
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

	t.Run("RestoreUnconfirmed", func(t *testing.T) {
		p, ada, name := newBackupsPortal(t)
		keyAfterBackup(t, p)
		keysNow := func() int { return bossKeys(t, p) }
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
		p, ada, name := newBackupsPortal(t)
		keyAfterBackup(t, p)
		keysNow := func() int { return bossKeys(t, p) }
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
		p, _, _ := newBackupsPortal(t)
		keysNow := func() int { return bossKeys(t, p) }
		_, archive := takeBackup(t, p.srv.Backups)
		keyAfterBackup(t, p)
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
		p, _, name := newBackupsPortal(t)
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
