// Package cache is pixpool's cache node: an in-memory key -> bytes store
// bounded by a byte capacity (Store) and a server speaking the memcached text
// protocol in front of it (Server), so that any memcached client can use it.
//
// The store evicts by least recently used (LRU) or random replacement (RR);
// the policy and the capacity can change at run time without losing
// contents. Every item is accounted as len(key) + len(value) + ItemOverhead
// bytes, and the sum never exceeds the capacity.
//
// The package imports nothing else of pixpool; `pixpool cachenode` wraps it.
// docs/cachenode.md describes the protocol, the extension command
// (cache_policy), the design and the deliberate differences from memcached.
package cache
