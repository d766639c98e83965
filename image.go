package pixpool

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest image key in bytes.
const MaxKeyLen = 250

// Image is the metadata of one stored image. (OwnerID, Key) is unique; the
// bytes live in the blob store under BlobKey.
type Image struct {
	ID          int64
	OwnerID     int64
	Key         string
	BlobKey     string
	ThumbKey    string // blob key of the gallery thumbnail; "" if none
	Size        int64
	ContentType string // image/jpeg, image/png, image/gif or image/webp
	Width       int
	Height      int
	Checksum    string    // hex SHA-256 of the bytes
	CreatedAt   time.Time // when these bytes were uploaded

	// ThumbSize is the size of the thumbnail in bytes, 0 until it is made.
	ThumbSize int64
	// OriginalKey is the blob key of the bytes as uploaded, kept when
	// what is served (BlobKey) was stripped of metadata and the storage
	// policy keeps originals; "" if none. OriginalSize is their size.
	OriginalKey  string
	OriginalSize int64
	// Metadata is what the upload's metadata said (camera, time, place),
	// as JSON of ImageMetadata, shown to the owner only; "" if none.
	Metadata string
	// SourceChecksum is the hex SHA-256 of the bytes as uploaded: an
	// owner's images with the same one share their blobs
	// (deduplication). "" for images stored before it was recorded.
	SourceChecksum string
}

// StoredBytes is what the image's own files take in the blob store: the
// bytes served, the thumbnail and the kept original. Variants are counted
// apart, and identical images of one owner share these (a quota counts
// them once).
func (img *Image) StoredBytes() int64 { return img.Size + img.ThumbSize + img.OriginalSize }

// ValidateKey reports whether key can name an image: 1 to 250 bytes of
// UTF-8 without control characters. Keys are case-sensitive.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return Errorf(EINVALID, "Key is required.")
	case len(key) > MaxKeyLen:
		return Errorf(EINVALID, "Key must be at most %d bytes (this one is %d).", MaxKeyLen, len(key))
	case !utf8.ValidString(key):
		return Errorf(EINVALID, "Key must be valid UTF-8 text.")
	case strings.IndexFunc(key, isControl) >= 0:
		return Errorf(EINVALID, "Key must not contain control characters.")
	}
	return nil
}

// isControl also refuses the Unicode line and paragraph separators, which
// break lines in logs and listings like control characters do.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// ImageFilter selects images for a listing. Images come ordered by owner,
// then key (bytewise), or newest first.
type ImageFilter struct {
	OwnerID int64  // 0: every owner
	Prefix  string // only keys starting with this
	After   string // only keys after this one (a cursor within one owner); not with Newest
	Newest  bool   // order by upload time, newest first
	Offset  int
	Limit   int // 0: no limit
}

// ImageStore keeps image metadata (part of Store).
type ImageStore interface {
	// PutImage inserts img, or replaces the row with the same (OwnerID, Key),
	// in one transaction. A replaced row keeps its ID. It sets img.ID (and
	// CreatedAt, if zero) and returns the replaced row (nil if there was
	// none) so the caller can delete the old bytes.
	PutImage(ctx context.Context, img *Image) (replaced *Image, err error)
	// Image returns an owner's image by key.
	Image(ctx context.Context, ownerID int64, key string) (*Image, error)
	// Images lists images matching f, ordered by owner id then key.
	Images(ctx context.Context, f ImageFilter) ([]*Image, error)
	// CountImages counts images matching f, ignoring After, Offset, Limit.
	CountImages(ctx context.Context, f ImageFilter) (int, error)
	// DeleteImage removes an owner's image and returns the removed row.
	DeleteImage(ctx context.Context, ownerID int64, key string) (*Image, error)
	// DeleteAllImages removes every image row of every owner, and the
	// records of their variants, reporting how many images.
	DeleteAllImages(ctx context.Context) (int, error)
	// ImageBlobKeys calls fn with every BlobKey and non-empty ThumbKey
	// and OriginalKey, of images and of the trash, and every variant's
	// blob key whose source is one of those: every blob an image still
	// needs (the sweeper removes the others).
	ImageBlobKeys(ctx context.Context, fn func(key string) error) error
}

// imageFormats maps each content type an image may have to its format, the
// extension of its blob key.
var imageFormats = map[string]string{
	"image/jpeg": "jpeg",
	"image/png":  "png",
	"image/gif":  "gif",
	"image/webp": "webp",
}

// Image blob keys. An image's bytes, its thumbnail and its kept original
// are named after one random id of 32 lower-case hex digits: ImageBlobKey,
// ThumbBlobKey and OriginalBlobKey. Nothing else is stored under img/,
// thumb/ or orig/, and no other blob (backups live under backups/) ever
// has a key of these forms.
const imageBlobIDLen = 32

// ImageBlobKey returns the blob key of the bytes of an image of format
// (jpeg, png, gif or webp) named after id, a random 32-digit hex string.
func ImageBlobKey(id, format string) string { return "img/" + id[:2] + "/" + id + "." + format }

// OriginalBlobKey returns the blob key of the kept original of the image
// named after id, of format.
func OriginalBlobKey(id, format string) string { return "orig/" + id[:2] + "/" + id + "." + format }

// ThumbBlobKey returns the blob key of the thumbnail of the image named
// after id.
func ThumbBlobKey(id string) string { return "thumb/" + id[:2] + "/" + id + ".jpg" }

// ImageBlobID checks that img's BlobKey and ThumbKey are those pixpool
// gives an image of its ContentType, ImageBlobKey and ThumbBlobKey of one
// id (ThumbKey may be ""), and returns that id. Anything else (a key under
// backups/ or another folder, a path with "..", a thumbnail of another
// image, an extension other than the content type's) is EINVALID: a
// restored image row can thus reach no blob but its own.
func ImageBlobID(img *Image) (string, error) {
	format, ok := imageFormats[img.ContentType]
	if !ok {
		return "", Errorf(EINVALID, "content type %q is not one of image/jpeg, image/png, image/gif or image/webp", img.ContentType)
	}
	rest, ok := strings.CutPrefix(img.BlobKey, "img/")
	id := ""
	if ok && len(rest) > 3 && rest[2] == '/' {
		id = strings.TrimSuffix(rest[3:], "."+format)
	}
	if !isBlobID(id) || img.BlobKey != ImageBlobKey(id, format) {
		return "", Errorf(EINVALID, "blob key %q is not the form pixpool gives a %s image (img/xx/<32 hex digits>.%s)", img.BlobKey, format, format)
	}
	if img.ThumbKey != "" && img.ThumbKey != ThumbBlobKey(id) {
		return "", Errorf(EINVALID, "thumbnail key %q is not the one pixpool gives this image (%s, or none)", img.ThumbKey, ThumbBlobKey(id))
	}
	if img.OriginalKey != "" && img.OriginalKey != OriginalBlobKey(id, format) {
		return "", Errorf(EINVALID, "original key %q is not the one pixpool gives this image (%s, or none)", img.OriginalKey, OriginalBlobKey(id, format))
	}
	return id, nil
}

// isBlobID reports whether id is 32 lower-case hex digits.
func isBlobID(id string) bool {
	if len(id) != imageBlobIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
