package http

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// TestAPI_Trash: a delete answers where the image went; the trash lists,
// restores (refusing a taken key, offering another), purges and empties.
func TestAPI_Trash(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{})
	put := func(key string, seed uint8) {
		t.Helper()
		if status, b := f.do("PUT", "/api/v1/images/"+key, f.aliceKey, string(testPNG(t, 9, 9, seed))); status != 201 {
			t.Fatalf("PUT %s: %d %s", key, status, b)
		}
	}
	put("cat", 1)
	put("dog", 2)

	status, b := f.do("DELETE", "/api/v1/images/cat", f.aliceKey, "")
	var del struct {
		Key     string    `json:"key"`
		Trashed bool      `json:"trashed"`
		TrashID int64     `json:"trash_id"`
		PurgeAt time.Time `json:"purge_at"`
	}
	if status != 200 || json.Unmarshal(b, &del) != nil || !del.Trashed || del.Key != "cat" || del.TrashID == 0 ||
		del.PurgeAt.Before(time.Now().Add(29*24*time.Hour)) {
		t.Fatalf("DELETE: %d %s; want 200, trashed, purge_at 30 days on", status, b)
	}
	if status, _ := f.do("GET", "/api/v1/images/cat", f.aliceKey, ""); status != 404 {
		t.Fatalf("GET trashed: %d, want 404", status)
	}

	var list struct {
		Total int `json:"total"`
		Items []struct {
			ID  int64  `json:"id"`
			Key string `json:"key"`
		} `json:"items"`
	}
	status, b = f.do("GET", "/api/v1/trash", f.aliceKey, "")
	if status != 200 || json.Unmarshal(b, &list) != nil || list.Total != 1 || len(list.Items) != 1 || list.Items[0].ID != del.TrashID {
		t.Fatalf("GET /trash: %d %s", status, b)
	}
	// Another user sees none of it and can touch none of it.
	status, b = f.do("GET", "/api/v1/trash", f.adminKey, "")
	wantJSON(t, b, `{"total":0,"items":[]}`)
	id := strconv.FormatInt(del.TrashID, 10)
	if status, b := f.do("POST", "/api/v1/trash/"+id+"/restore", f.adminKey, ""); status != 404 {
		t.Fatalf("restore another's: %d %s", status, b)
	}

	// The key taken: 409, saying what to do; then under another key.
	put("cat", 3)
	status, b = f.do("POST", "/api/v1/trash/"+id+"/restore", f.aliceKey, "")
	if status != 409 || !strings.Contains(wantAPIError(t, b, "conflict"), "restore this one under another key") {
		t.Fatalf("restore onto a taken key: %d %s", status, b)
	}
	status, b = f.do("POST", "/api/v1/trash/"+id+"/restore", f.aliceKey, `{"key":"old cat"}`)
	if status != 200 || !strings.Contains(string(b), `"key":"old cat"`) {
		t.Fatalf("restore as old cat: %d %s", status, b)
	}
	if status, _ := f.do("GET", "/api/v1/images/old%20cat", f.aliceKey, ""); status != 200 {
		t.Fatalf("GET restored: %d", status)
	}

	// Delete forever, and empty.
	for _, k := range []string{"old%20cat", "dog"} {
		if status, b := f.do("DELETE", "/api/v1/images/"+k, f.aliceKey, ""); status != 200 {
			t.Fatalf("DELETE %s: %d %s", k, status, b)
		}
	}
	f.do("GET", "/api/v1/trash", f.aliceKey, "")
	_, b = f.do("GET", "/api/v1/trash?limit=1", f.aliceKey, "")
	json.Unmarshal(b, &list)
	if list.Total != 2 || len(list.Items) != 1 || list.Items[0].Key != "dog" {
		t.Fatalf("GET /trash?limit=1: %s; want dog of 2", b)
	}
	if status, b := f.do("DELETE", "/api/v1/trash/"+strconv.FormatInt(list.Items[0].ID, 10), f.aliceKey, ""); status != 204 {
		t.Fatalf("purge: %d %s", status, b)
	}
	if status, b := f.do("DELETE", "/api/v1/trash/"+strconv.FormatInt(list.Items[0].ID, 10), f.aliceKey, ""); status != 404 {
		t.Fatalf("purge twice: %d %s", status, b)
	}
	status, b = f.do("DELETE", "/api/v1/trash", f.aliceKey, "")
	wantJSON(t, b, `{"purged":1}`)
	if status, b := f.do("GET", "/api/v1/trash?limit=0", f.aliceKey, ""); status != 400 {
		t.Fatalf("limit=0: %d %s", status, b)
	}
}

// TestCompat_DeleteAllBypassesTrash: /api/delete_all keeps its exact
// answer and its contract: the images are gone, not in a trash.
func TestCompat_DeleteAllBypassesTrash(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{})
	for _, k := range []string{"a", "b"} {
		if status, b := f.do("PUT", "/api/v1/images/"+k, f.aliceKey, string(testPNG(t, 9, 9, 1))); status != 201 {
			t.Fatalf("PUT: %d %s", status, b)
		}
	}
	if status, b := f.do("DELETE", "/api/v1/images/a", f.aliceKey, ""); status != 200 {
		t.Fatalf("DELETE: %d %s", status, b)
	}
	status, b := f.do("POST", "/api/delete_all", f.aliceKey, "")
	if status != 200 || string(b) != `{"success":"true"}`+"\n" {
		t.Fatalf("delete_all: %d %q", status, b)
	}
	ctx := t.Context()
	if n, _ := f.env.Store.CountImages(ctx, pixpool.ImageFilter{OwnerID: f.alice.ID}); n != 0 {
		t.Fatalf("%d images left", n)
	}
	if n, _ := f.env.Store.CountTrash(ctx, f.alice.ID); n != 0 {
		t.Fatalf("%d trash entries left, want the trash emptied too", n)
	}
}

// TestWeb_TrashRestoreConflict: restoring onto a taken key shows the
// Trash page with the error and the "another key" form open.
func TestWeb_TrashRestoreConflict(t *testing.T) {
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	csrf := b.csrf()
	for _, seed := range []uint8{1, 2} {
		resp, body := b.upload(csrf, "cat", testPNG(t, 9, 9, seed))
		if resp.StatusCode >= 400 {
			t.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
		if seed == 1 {
			resp, _ := b.post("/image/delete", url.Values{"csrf": {csrf}, "key": {"cat"}, "confirm": {"yes"}})
			to := resp.Header.Get("Location")
			if resp.StatusCode != 303 || !strings.HasPrefix(to, "/images?msg=trashed&until=") {
				t.Fatalf("delete: %d to %q", resp.StatusCode, to)
			}
			_, body := b.get(to)
			wantContains(t, body, "Image moved to the trash. You can restore it from the Trash until ")
		}
	}
	_, body := b.get("/trash")
	wantContains(t, body, "30 days left", "Restore under another key")
	i := strings.Index(body, `name="id" value="`)
	if i < 0 {
		t.Fatalf("no trash entry on the page")
	}
	id := body[i+len(`name="id" value="`):]
	id = id[:strings.IndexByte(id, '"')]
	resp, body := b.post("/trash/restore", url.Values{"csrf": {csrf}, "id": {id}})
	wantStatus(t, resp, body, 409)
	wantContains(t, body, "exists already", "restore this one under another key", "<details class=\"restore-as\" open>")
	resp, body = b.post("/trash/restore", url.Values{"csrf": {csrf}, "id": {id}, "key": {"cat 2"}})
	wantRedirect(t, resp, body, "/image?key=cat+2&msg=restored")
	_, body = b.get("/image?key=cat+2&msg=restored")
	wantContains(t, body, "Image restored from the trash.", "cat 2")
	// Without the CSRF token nothing happens.
	resp, body = b.post("/trash/empty", url.Values{"confirm": {"yes"}})
	if resp.StatusCode != 403 {
		t.Fatalf("empty without CSRF: %d", resp.StatusCode)
	}
}

// TestWeb_TrashPageNoTrashKept: when the admins set the trash days to 0,
// entries deleted before still wait in the trash, and the page says so
// rather than only that deletes are final.
func TestWeb_TrashPageNoTrashKept(t *testing.T) {
	srv, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	csrf := b.csrf()
	if resp, body := b.upload(csrf, "cat", testPNG(t, 9, 9, 1)); resp.StatusCode >= 400 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.post("/image/delete", url.Values{"csrf": {csrf}, "key": {"cat"}, "confirm": {"yes"}}); resp.StatusCode != 303 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if err := srv.Images.Policies.Set(t.Context(), pixpool.Policy{TrashDays: 0}); err != nil {
		t.Fatal(err)
	}
	_, body := b.get("/trash")
	wantContains(t, body, "This server keeps no trash", "The images below were deleted while it kept one", "30 days left")
}
