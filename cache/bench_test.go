package cache_test

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/pixpool/pixpool/cache"
)

// The node benchmarks drive a server on loopback with gomemcache from
// 8*GOMAXPROCS goroutines, one connection each; cache/internal/benchcmp
// runs the same load against memcached for comparison.

func BenchmarkNodeGet1KB(b *testing.B)   { benchNode(b, "get", 1<<10) }
func BenchmarkNodeGet100KB(b *testing.B) { benchNode(b, "get", 100<<10) }
func BenchmarkNodeSet1KB(b *testing.B)   { benchNode(b, "set", 1<<10) }
func BenchmarkNodeSet100KB(b *testing.B) { benchNode(b, "set", 100<<10) }

const benchKeys = 1000

func benchNode(b *testing.B, op string, size int) {
	tg := startNodeWith(b, &cache.Server{Store: cache.NewStore(cache.StoreConfig{Capacity: 1 << 30})})
	mc := memcache.New(tg.addr)
	mc.MaxIdleConns = 256
	value := make([]byte, size)
	keys := benchKeySet(size)
	for _, k := range keys {
		if err := mc.Set(&memcache.Item{Key: k, Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	var seed atomic.Uint64
	b.SetBytes(int64(size))
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 1))
		for pb.Next() {
			k := keys[rng.IntN(len(keys))]
			var err error
			if op == "set" {
				err = mc.Set(&memcache.Item{Key: k, Value: value})
			} else {
				_, err = mc.Get(k)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchKeySet(size int) []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(size) + ":" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkStoreGet measures the store alone: a hit, with its LRU bump.
func BenchmarkStoreGet(b *testing.B) {
	s := cache.NewStore(cache.StoreConfig{Capacity: 1 << 30})
	keys := benchKeySet(1 << 10)
	for _, k := range keys {
		s.Set(cache.Item{Key: k, Value: make([]byte, 1<<10)})
	}
	var seed atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 1))
		for pb.Next() {
			if _, ok := s.Get(keys[rng.IntN(len(keys))]); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkStoreSet measures overwriting 1 KB values in a full store, so
// that a quarter of the sets evict (the key set is larger than the store).
func BenchmarkStoreSet(b *testing.B) {
	for _, p := range []cache.Policy{cache.LRU, cache.RR} {
		b.Run(p.String(), func(b *testing.B) {
			keys := benchKeySet(1 << 10)
			s := cache.NewStore(cache.StoreConfig{Capacity: int64(len(keys)) * 3 / 4 * (1<<10 + 64 + 20), Policy: p})
			value := make([]byte, 1<<10)
			var seed atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 1))
				for pb.Next() {
					if err := s.Set(cache.Item{Key: keys[rng.IntN(len(keys))], Value: value}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
