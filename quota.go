package pixpool

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

// Usage is what one user's images take in the blob store, as quotas count
// it. Identical images sharing their blobs (deduplication) count once.
type Usage struct {
	// Bytes is every file the user's images have: the bytes served, the
	// thumbnails, the kept originals, of images and of the trash, plus
	// the variants made of them.
	Bytes int64 `json:"bytes"`
	// Images counts the user's images, the trash included.
	Images int64 `json:"images"`
	// TrashBytes and TrashImages are the trash's share: the bytes that
	// emptying the trash would free (blobs that no live image shares) and
	// the images in it.
	TrashBytes  int64 `json:"trash_bytes"`
	TrashImages int64 `json:"trash_images"`
	// VariantBytes is the variants' share of Bytes.
	VariantBytes int64 `json:"variant_bytes"`
}

// Quota is the limits that hold for one user: their own, or the storage
// policy's defaults. 0 means no limit.
type Quota struct {
	Bytes  int64 `json:"bytes"`
	Images int64 `json:"images"`
	// Default reports, for each, whether it is the policy's default
	// rather than the user's own.
	BytesDefault  bool `json:"bytes_default"`
	ImagesDefault bool `json:"images_default"`
}

// QuotaOf returns the quota that holds for u under the policy p.
func QuotaOf(u *User, p Policy) Quota {
	q := Quota{Bytes: p.QuotaBytes, Images: p.QuotaImages, BytesDefault: true, ImagesDefault: true}
	if u.QuotaBytes != nil {
		q.Bytes, q.BytesDefault = *u.QuotaBytes, false
	}
	if u.QuotaImages != nil {
		q.Images, q.ImagesDefault = *u.QuotaImages, false
	}
	return q
}

// QuotaStore counts users' usage and keeps their own quotas (part of
// Store; its errors are Store's).
type QuotaStore interface {
	// Usage returns what ownerID's images take. Bytes sums, over the
	// distinct blob keys of the owner's images and trash rows, the size,
	// thumbnail size and original size of one row holding it, plus the
	// size of the owner's variants whose source (SourceKey) an image or
	// trash row still has: a variant left behind by an interrupted delete
	// is not counted, since its owner could never free it. An owner with nothing has the zero
	// Usage (a missing owner too).
	Usage(ctx context.Context, ownerID int64) (Usage, error)
	// SetUserQuota sets a user's own quotas; nil sets the policy's
	// default back. A missing user is ENOTFOUND; a negative value is
	// EINVALID.
	SetUserQuota(ctx context.Context, userID int64, bytes, images *int64) error
	// SetThumbSize records the size of the thumbnail stored under
	// thumbKey in the images and trash rows naming it (none is not an
	// error: the image may be gone).
	SetThumbSize(ctx context.Context, thumbKey string, size int64) error
}

// ValidateQuota checks a user's own quotas (nil: the default).
func ValidateQuota(bytes, images *int64) error {
	if bytes != nil && *bytes < 0 {
		return Errorf(EINVALID, "The byte quota must be 0 (no limit) or more, or empty for the default.")
	}
	if images != nil && *images < 0 {
		return Errorf(EINVALID, "The image quota must be 0 (no limit) or more, or empty for the default.")
	}
	return nil
}

// FormatSize writes n bytes as a short size for people, in binary units:
// "512 bytes", "1.5 KiB", "20 MiB", "3.2 GiB".
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		if n == 1 {
			return "1 byte"
		}
		return strconv.FormatInt(n, 10) + " bytes"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n)/unit, 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10) + " " + units[i]
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

// ThumbImageBlobKeys returns the blob keys an image whose thumbnail is
// thumbKey may have (one per format), so that stores find its rows through
// their blob key index; nil if thumbKey is not of ThumbBlobKey's form.
func ThumbImageBlobKeys(thumbKey string) []string {
	rest, ok := strings.CutPrefix(thumbKey, "thumb/")
	if !ok || len(rest) < 3 || rest[2] != '/' {
		return nil
	}
	id := strings.TrimSuffix(rest[3:], ".jpg")
	if !isBlobID(id) || thumbKey != ThumbBlobKey(id) {
		return nil
	}
	keys := make([]string, 0, len(imageFormats))
	for _, f := range imageFormats {
		keys = append(keys, ImageBlobKey(id, f))
	}
	slices.Sort(keys)
	return keys
}
