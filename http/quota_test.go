package http

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestQuota_API(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: noPool})
	alice := strconv.FormatInt(f.alice.ID, 10)
	f.call("PUT", "/api/v1/admin/policy", `{"quota_images":1,"trash_days":30}`, 200, nil)
	wantJSON(t, f.call("GET", "/api/v1/admin/policy", "", 200, nil), `{"quota_bytes":0,"quota_images":1,"trash_days":30,"keep_originals":false}`)

	img := testPNG(t, 8, 8, 1)
	if status, b := f.do("PUT", "/api/v1/images/a", f.aliceKey, string(img)); status != 201 {
		t.Fatalf("first upload: status %d: %s", status, b)
	}
	status, b := f.do("PUT", "/api/v1/images/b", f.aliceKey, string(img))
	if status != http.StatusInsufficientStorage {
		t.Fatalf("upload over the image quota: status %d, want 507: %s", status, b)
	}
	if msg := wantAPIError(t, b, pixpool.EQUOTA); msg != "You have 1 of your 1 images (trash included), so there is no room for another. Delete images to make room, or ask an administrator for a larger quota." {
		t.Fatalf("message %q", msg)
	}
	// Replacing adds no image.
	if status, b := f.do("PUT", "/api/v1/images/a", f.aliceKey, string(img)); status != 201 {
		t.Fatalf("replace at the quota: status %d: %s", status, b)
	}
	// The compatibility API answers 507 too.
	status, b = f.compatUpload(f.aliceKey, "c")
	wantCompatError(t, status, b, http.StatusInsufficientStorage)

	status, b = f.do("GET", "/api/v1/me", f.aliceKey, "")
	if status != 200 {
		t.Fatalf("GET /me: status %d: %s", status, b)
	}
	var me struct {
		Username string
		Usage    pixpool.Usage
		Quota    pixpool.Quota
	}
	if err := json.Unmarshal(b, &me); err != nil {
		t.Fatal(err)
	}
	if me.Username != "alice" || me.Usage.Images != 1 || me.Usage.Bytes < int64(len(img)) || me.Quota != (pixpool.Quota{Images: 1, BytesDefault: true, ImagesDefault: true}) {
		t.Fatalf("GET /me=%s", b)
	}

	// An admin gives alice her own quotas: no image limit, 1 MiB.
	var q quotaJSON
	f.call("PUT", "/api/v1/admin/users/"+alice+"/quota", `{"images":0,"bytes":1048576}`, 200, &q)
	if q.Quota != (pixpool.Quota{Bytes: 1 << 20}) || q.Usage.Images != 1 {
		t.Fatalf("quota=%+v", q)
	}
	if status, b := f.do("PUT", "/api/v1/images/b", f.aliceKey, string(img)); status != 201 {
		t.Fatalf("upload under her own quota: status %d: %s", status, b)
	}
	// The admin user list shows her own quotas.
	var list struct {
		Users []adminUserJSON
	}
	f.call("GET", "/api/v1/admin/users", "", 200, &list)
	for _, u := range list.Users {
		if u.Username == "alice" && (u.QuotaBytes == nil || *u.QuotaBytes != 1<<20 || u.QuotaImages == nil || *u.QuotaImages != 0) {
			t.Fatalf("alice in the admin list: %+v", u)
		}
	}
	// Null is the default again.
	f.call("PUT", "/api/v1/admin/users/"+alice+"/quota", `{"images":null}`, 200, &q)
	if q.Quota != (pixpool.Quota{Images: 1, BytesDefault: true, ImagesDefault: true}) {
		t.Fatalf("quota after null=%+v", q)
	}

	for _, c := range []struct {
		path, body string
		status     int
		code       string
	}{
		{"/api/v1/admin/users/" + alice + "/quota", `{"bytes":-1}`, 400, pixpool.EINVALID},
		{"/api/v1/admin/users/999999/quota", `{"bytes":1}`, 404, pixpool.ENOTFOUND},
		{"/api/v1/admin/users/x/quota", `{}`, 404, pixpool.ENOTFOUND},
		{"/api/v1/admin/policy", `{"trash_days":-1}`, 400, pixpool.EINVALID},
		{"/api/v1/admin/policy", `{"quota_bytes":-5}`, 400, pixpool.EINVALID},
	} {
		status, b := f.do("PUT", c.path, f.adminKey, c.body)
		if status != c.status {
			t.Fatalf("PUT %s %s: status %d, want %d: %s", c.path, c.body, status, c.status, b)
		}
		wantAPIError(t, b, c.code)
	}
	// A bad policy changed nothing.
	wantJSON(t, f.call("GET", "/api/v1/admin/policy", "", 200, nil), `{"quota_bytes":0,"quota_images":1,"trash_days":30,"keep_originals":false}`)
}

func TestQuota_Portal(t *testing.T) {
	p := newPortal(t, noPool)
	ada, u := p.user(t, "ada")

	t.Run("Policy", func(t *testing.T) {
		resp, body := p.admin.get("/admin/policy")
		wantStatus(t, resp, body, 200)
		wantContains(t, body, "Storage policy", `name="quota_bytes"`, `name="trash_days" type="number"`, "Keep originals", `href="/admin/policy" aria-current="page"`)
		// Without the CSRF token nothing changes.
		resp, body = p.admin.post("/admin/policy", url.Values{"quota_bytes": {"1 MiB"}, "quota_images": {"0"}, "trash_days": {"30"}})
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatalf("policy saved without a CSRF token")
		}
		resp, body = p.admin.send("/admin/policy", url.Values{"quota_bytes": {"lots"}, "quota_images": {"0"}, "trash_days": {"30"}})
		wantStatus(t, resp, body, 400)
		wantContains(t, body, "must be a size such as 500 MiB", `value="lots"`)
		resp, body = p.admin.send("/admin/policy", url.Values{"quota_bytes": {"2 MiB"}, "quota_images": {"0"}, "trash_days": {"7"}, "keep_originals": {"on"}})
		wantRedirect(t, resp, body, "/admin/policy?msg=policy")
		_, body = p.admin.get("/admin/policy?msg=policy")
		wantContains(t, body, "Storage policy saved.", `value="2 MiB"`, `value="7"`, `checked`)
		pol, err := p.srv.policies().Get(t.Context())
		if err != nil || pol != (pixpool.Policy{QuotaBytes: 2 << 20, TrashDays: 7, KeepOriginals: true}) {
			t.Fatalf("policy=%+v, %v", pol, err)
		}
	})

	t.Run("UsersPage", func(t *testing.T) {
		resp, body := p.admin.send("/admin/users/quota", url.Values{"id": {strconv.FormatInt(u.ID, 10)}, "quota_bytes": {"1 KiB"}, "quota_images": {""}})
		wantRedirect(t, resp, body, "/admin/users?msg=quota")
		_, body = p.admin.get("/admin/users?msg=quota")
		wantContains(t, body, "Quota saved.", "Storage: 0 bytes of 1 KiB used (0 images)", `value="1 KiB"`)
		resp, body = p.admin.send("/admin/users/quota", url.Values{"id": {strconv.FormatInt(u.ID, 10)}, "quota_bytes": {"1 KiB"}, "quota_images": {"-3"}})
		wantStatus(t, resp, body, 400)
		wantContains(t, body, "The image quota must be a whole number, 0 for no limit.")
	})

	t.Run("Upload", func(t *testing.T) {
		img := noisyPNG(t, 64, 64)
		resp, body := ada.upload(ada.csrf(), "big", img)
		wantStatus(t, resp, body, http.StatusInsufficientStorage)
		wantContains(t, body, html.EscapeString("This upload needs "), html.EscapeString("left of your 1 KiB quota"))
		_, body = ada.get("/profile")
		wantContains(t, body, "Storage: 0 bytes of 1 KiB used (0 images)")
		_, body = ada.get("/")
		wantContains(t, body, "Storage: 0 bytes of 1 KiB used (0 images)")
	})
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"500", 500 << 20, true}, {"500 MiB", 500 << 20, true}, {"2 GB", 2 << 30, true}, {"1.5g", 3 << 29, true},
		{"0", 0, true}, {"10 KiB", 10 << 10, true}, {"123 B", 123, true}, {"1 TiB", 1 << 40, true},
		{"lots", 0, false}, {"-1", 0, false}, {"5 XB", 0, false}, {"1e3", 0, false}, {"99999999999 TiB", 0, false},
		// Less than a byte is not 0 (no limit), which the admin did not type.
		{"0.4 B", 0, false}, {"0.0000001", 0, false},
	} {
		got, err := parseSize("Size", c.in)
		if (err == nil) != c.ok || (c.ok && *got != c.want) {
			t.Errorf("parseSize(%q)=%v, %v, want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok {
			if back, err := parseSize("Size", formatSizeExact(c.want)); err != nil || *back != c.want {
				t.Errorf("parseSize(formatSizeExact(%d)=%q)=%v, %v", c.want, formatSizeExact(c.want), back, err)
			}
		}
	}
	if got, err := parseSize("Size", " "); got != nil || err != nil {
		t.Errorf("parseSize(blank)=%v, %v, want nil (the default)", got, err)
	}
}
