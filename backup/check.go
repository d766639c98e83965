package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

// A restore trusts no row of an archive beyond what the store's
// constraints check: an image row decides which blob its owner reads, so
// a crafted one could hand its owner the backups (every password hash)
// or another user's images. rowCheck refuses, before anything is
// replaced, every row that pixpool itself would not have written:
//
//   - users: a positive id, once; no negative quota;
//   - api_keys: an owner among the archive's users;
//   - images and trash: a positive id, once per table; an owner among the
//     archive's users; a valid key; a content type pixpool accepts; the
//     blob, thumbnail and original keys pixpool gives such an image
//     (pixpool.ImageBlobID: under img/, thumb/ and orig/, never backups/,
//     no ".."), named after an id no other user's row uses (one owner's
//     identical images share theirs), and, for a blob the current store
//     already has, the same owner as there; a positive size and
//     dimensions; a SHA-256 checksum;
//   - analyses: an image among the archive's images, a known status, and
//     no negative attempt count;
//   - shares: an owner among the archive's users, a known kind, and no
//     negative view count;
//   - settings: a storage policy that parses and that Policy.Validate
//     accepts.
type rowCheck struct {
	live   map[string]owner // blob key -> its owner in the current store
	users  map[int64]owner
	images map[int64]bool
	trash  map[int64]bool
	blobs  map[string]blobUse // blob id -> the first images or trash row naming it
	rows   map[string]int     // rows read so far, per table
	err    error              // the first refused row
}

// owner is a user as far as blob ownership goes: across a restore a user
// keeps the id and creation time; the username may have changed since.
type owner struct {
	id       int64
	username string
	created  time.Time
}

func (o owner) same(p owner) bool {
	return strings.EqualFold(o.username, p.username) || o.id == p.id && o.created.Equal(p.created)
}

// blobUse is the first row naming a blob id.
type blobUse struct {
	table string
	n     int
	owner int64
}

func newRowCheck(live map[string]owner) *rowCheck {
	return &rowCheck{live: live, users: make(map[int64]owner), images: make(map[int64]bool), trash: make(map[int64]bool),
		blobs: make(map[string]blobUse), rows: make(map[string]int)}
}

// row checks one row as readArchive yields it. It keeps the first problem
// in c.err and never stops the read, so that a damaged archive is still
// reported as damaged.
func (c *rowCheck) row(t *pixpool.BackupTableDef, row []any) error {
	c.rows[t.Name]++
	if c.err == nil {
		c.err = c.check(t, c.rows[t.Name], row)
	}
	return nil
}

// refused is the error of a row a restore does not accept.
func refused(t *pixpool.BackupTableDef, n int, format string, args ...any) error {
	return pixpool.Errorf(pixpool.EINVALID, "The backup was not restored, nothing changed: %s row %d: "+format+".", append([]any{t.Name, n}, args...)...)
}

func (c *rowCheck) check(t *pixpool.BackupTableDef, n int, row []any) error {
	if err := pixpool.CheckBackupRow(t, n, row); err != nil {
		return err
	}
	v := func(name string) any { return pixpool.BackupValue(t, row, name) }
	switch t.Name {
	case "users":
		u := owner{id: v("id").(int64), username: v("username").(string), created: v("created_at").(time.Time)}
		if _, dup := c.users[u.id]; dup || u.id <= 0 {
			return refused(t, n, "user id %d is not positive or appears twice", u.id)
		}
		for _, q := range []struct{ col, what string }{{"quota_bytes", "byte"}, {"quota_images", "image"}} {
			// A negative quota reads as no limit.
			if v, ok := v(q.col).(int64); ok && v < 0 {
				return refused(t, n, "user %q: the %s quota must be 0 (no limit) or more, or none for the default", u.username, q.what)
			}
		}
		c.users[u.id] = u
	case "api_keys":
		if uid := v("user_id").(int64); !c.hasUser(uid) {
			return refused(t, n, "API key of user id %d, who is not in the backup", uid)
		}
	case "images", "trash":
		return c.image(t, n, row)
	case "settings":
		if v("name") == pixpool.PolicySetting {
			// One that does not parse fails every upload and the policy
			// page; bad values read as no quota or an instant purge.
			var p pixpool.Policy
			if err := json.Unmarshal([]byte(v("value").(string)), &p); err != nil {
				return refused(t, n, "the storage policy is not valid JSON: %v", err)
			}
			if err := p.Validate(); err != nil {
				return refused(t, n, "the storage policy: %s", strings.TrimSuffix(pixpool.ErrorMessage(err), "."))
			}
		}
	case "shares":
		uid := v("owner_id").(int64)
		switch kind := v("kind").(string); {
		case !c.hasUser(uid):
			return refused(t, n, "share link of user id %d, who is not in the backup", uid)
		case kind != "image" && kind != "album":
			return refused(t, n, "share kind %q is not image or album", kind)
		case v("views").(int64) < 0:
			return refused(t, n, "a negative view count")
		}
	case "analyses":
		id := v("image_id").(int64)
		switch {
		case !c.images[id]:
			return refused(t, n, "analysis of image id %d, which is not in the backup", id)
		case !isAnalysisStatus(v("status").(string)):
			return refused(t, n, "analysis status %q is not pending, done or failed", v("status"))
		case v("attempts").(int64) < 0:
			return refused(t, n, "a negative attempt count")
		}
	}
	return nil
}

func (c *rowCheck) hasUser(id int64) bool { _, ok := c.users[id]; return ok }

func (c *rowCheck) image(t *pixpool.BackupTableDef, n int, row []any) error {
	v := func(name string) any { return pixpool.BackupValue(t, row, name) }
	img := &pixpool.Image{ID: v("id").(int64), OwnerID: v("owner_id").(int64), Key: v("key").(string),
		BlobKey: v("blob_key").(string), ThumbKey: v("thumb_key").(string), Size: v("size").(int64),
		ContentType: v("content_type").(string), Checksum: v("checksum").(string), OriginalKey: v("original_key").(string)}
	w, h := v("width").(int64), v("height").(int64)
	ids := c.images
	if t.Name == "trash" {
		ids = c.trash
	}
	if ids[img.ID] || img.ID <= 0 {
		return refused(t, n, "image id %d is not positive or appears twice", img.ID)
	}
	ids[img.ID] = true
	u, ok := c.users[img.OwnerID]
	if !ok {
		return refused(t, n, "image %q of user id %d, who is not in the backup", img.Key, img.OwnerID)
	}
	if err := pixpool.ValidateKey(img.Key); err != nil {
		return refused(t, n, "image of user %q: %s", u.username, pixpool.ErrorMessage(err))
	}
	what := fmt.Sprintf("image %q of user %q", img.Key, u.username)
	id, err := pixpool.ImageBlobID(img)
	if err != nil {
		return refused(t, n, "%s: %s", what, pixpool.ErrorMessage(err))
	}
	if other, dup := c.blobs[id]; dup && other.owner != img.OwnerID {
		return refused(t, n, "%s: its blob %s is also that of %s row %d, another user's; each user's images have blobs of their own", what, img.BlobKey, other.table, other.n)
	} else if !dup {
		c.blobs[id] = blobUse{table: t.Name, n: n, owner: img.OwnerID}
	}
	for _, key := range []string{img.BlobKey, img.ThumbKey, img.OriginalKey} {
		if key == "" {
			continue
		}
		if cur, ok := c.live[key]; ok && !cur.same(u) {
			return refused(t, n, "%s: its blob %s is an image of another user (%q) in the current database", what, key, cur.username)
		}
	}
	if img.Size <= 0 || w <= 0 || h <= 0 {
		return refused(t, n, "%s: size %d and dimensions %dx%d must be positive", what, img.Size, w, h)
	}
	if !isSHA256(img.Checksum) {
		return refused(t, n, "%s: checksum %q is not a SHA-256 in hex", what, img.Checksum)
	}
	return nil
}

func isAnalysisStatus(s string) bool {
	return s == pixpool.AnalysisPending || s == pixpool.AnalysisDone || s == pixpool.AnalysisFailed
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// errEnough stops an export once the tables needed are read.
var errEnough = errors.New("enough")

// liveOwners returns the owner of every image, thumbnail and original
// blob the current store's images and trash name, so that a restore cannot give them to someone else.
func (s *Service) liveOwners(ctx context.Context) (map[string]owner, error) {
	users := make(map[int64]owner)
	live := make(map[string]owner)
	err := s.Store.ExportTables(ctx, func(t *pixpool.BackupTableDef, row []any) error {
		v := func(name string) any { return pixpool.BackupValue(t, row, name) }
		switch t.Name {
		case "users":
			id := v("id").(int64)
			users[id] = owner{id: id, username: v("username").(string), created: v("created_at").(time.Time)}
		case "images", "trash":
			u := users[v("owner_id").(int64)]
			live[v("blob_key").(string)] = u
			for _, col := range []string{"thumb_key", "original_key"} {
				if k := v(col).(string); k != "" {
					live[k] = u
				}
			}
		case "analyses", "settings":
			return errEnough
		}
		return nil
	})
	if err != nil && err != errEnough {
		return nil, err
	}
	return live, nil
}
