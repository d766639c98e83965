package pixpool

import (
	"context"
	"errors"
)

// ErrCacheMiss is returned by Cache.Get for a key the cache does not hold.
var ErrCacheMiss = errors.New("pixpool: cache miss")

// Cache is the fast tier in front of the stores. A cache may forget
// anything at any time; callers treat every error as a miss.
type Cache interface {
	// Get returns the value under key, or ErrCacheMiss.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key, replacing any old value.
	Set(ctx context.Context, key string, value []byte) error
	// Add stores value only if key is absent. Read paths fill the cache
	// with Add so that a slow reader cannot overwrite what a writer Set.
	Add(ctx context.Context, key string, value []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}
