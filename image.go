package pixpool

import (
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
}

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
