package fs

import (
	"strings"

	"github.com/pixpool/pixpool"
)

// Key limits. S3 allows keys of up to 1024 bytes and most file systems names
// of up to 255 bytes, so a key within both fits every backend.
const (
	maxKeyLen     = 1024
	maxSegmentLen = 255
)

// validKey reports whether key can name a blob, with an EINVALID error if
// not. Every BlobStore keeps the same rule, so keys move freely between
// backends (blobtest checks it):
//
//   - 1 to 1024 bytes of segments joined by "/": no leading, trailing or
//     double slash;
//   - each segment 1 to 255 bytes of lower-case letters, digits, '.', '_'
//     and '-', not starting with '.'.
//
// The leading-dot ban rules out "." and "..", so a key can never leave the
// store's folder, hides no files, and keeps the store's own ".tmp" folder out
// of the key space. Lower case only keeps keys equal on case-insensitive
// file systems.
//
// It lives here, unexported, until a second backend needs it.
func validKey(key string) error {
	switch {
	case key == "":
		return pixpool.Errorf(pixpool.EINVALID, "Blob key is empty.")
	case len(key) > maxKeyLen:
		return pixpool.Errorf(pixpool.EINVALID, "Blob key is %d bytes long (at most %d).", len(key), maxKeyLen)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return pixpool.Errorf(pixpool.EINVALID, "Blob key %q has an empty segment (a leading, trailing or double slash).", key)
		case len(seg) > maxSegmentLen:
			return pixpool.Errorf(pixpool.EINVALID, "Blob key %q has a segment of %d bytes (at most %d).", key, len(seg), maxSegmentLen)
		case seg[0] == '.':
			return pixpool.Errorf(pixpool.EINVALID, "Blob key %q has a segment starting with a dot.", key)
		}
		for i := 0; i < len(seg); i++ {
			if !keyByte(seg[i]) {
				return pixpool.Errorf(pixpool.EINVALID, "Blob key %q may hold only a-z, 0-9, '.', '_', '-' and '/'.", key)
			}
		}
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}
