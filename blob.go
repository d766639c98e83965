package pixpool

import (
	"context"
	"io"
	"time"
)

// BlobStore holds image bytes by key. Keys are slash-separated paths of
// [a-z0-9._-] segments chosen by pixpool, never by users.
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
