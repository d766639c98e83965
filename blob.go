package pixpool

import (
	"context"
	"io"
	"strings"
	"time"
)

// BlobStore holds image bytes by key. Keys are chosen by pixpool, never by
// users, and follow ValidateBlobKey in every backend; Put and Get refuse
// others with EINVALID.
type BlobStore interface {
	// Put stores r's bytes under key, replacing any old value. A reader
	// never sees a half-written value: either the old one, or all of the new.
	// If r fails, nothing is stored and the old value stays.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get returns the bytes under key, or an error with code ENOTFOUND.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes key. A missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every key starting with prefix, in no set order.
	List(ctx context.Context, prefix string, fn func(BlobInfo) error) error
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Blob key limits. S3 allows keys of up to 1024 bytes and most file systems names
// of up to 255 bytes, so a key within both fits every backend.
const (
	MaxBlobKeyLen     = 1024
	MaxBlobSegmentLen = 255
)

// ValidateBlobKey reports whether key can name a blob, with an EINVALID error if
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
func ValidateBlobKey(key string) error {
	switch {
	case key == "":
		return Errorf(EINVALID, "Blob key is empty.")
	case len(key) > MaxBlobKeyLen:
		return Errorf(EINVALID, "Blob key is %d bytes long (at most %d).", len(key), MaxBlobKeyLen)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return Errorf(EINVALID, "Blob key %q has an empty segment (a leading, trailing or double slash).", key)
		case len(seg) > MaxBlobSegmentLen:
			return Errorf(EINVALID, "Blob key %q has a segment of %d bytes (at most %d).", key, len(seg), MaxBlobSegmentLen)
		case seg[0] == '.':
			return Errorf(EINVALID, "Blob key %q has a segment starting with a dot.", key)
		}
		for i := 0; i < len(seg); i++ {
			if !blobKeyByte(seg[i]) {
				return Errorf(EINVALID, "Blob key %q may hold only a-z, 0-9, '.', '_', '-' and '/'.", key)
			}
		}
	}
	return nil
}

func blobKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}
