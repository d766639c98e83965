package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixpool/pixpool"
)

// fill puts an image into the cache: with Set for writers (the newest
// bytes win) and Add for readers (never overwriting a writer's value).
func (s *Images) fill(ctx context.Context, img *pixpool.Image, data []byte, writer bool) {
	if s.Cache == nil {
		return
	}
	s.fillEntry(ctx, CacheKey(img.OwnerID, img.Key), encodeEntry(img, data), writer)
}

// fillEntry is fill with the entry made.
func (s *Images) fillEntry(ctx context.Context, ck string, entry []byte, writer bool) {
	if s.Cache == nil {
		return
	}
	var err error
	if writer {
		err = s.Cache.Set(ctx, ck, entry)
		if err != nil {
			// Leave no old value behind when the new one cannot be set.
			err = errors.Join(err, s.Cache.Delete(ctx, ck))
		}
	} else {
		err = s.Cache.Add(ctx, ck, entry)
	}
	if err != nil {
		s.logger().Debug("cache fill", "cache_key", ck, "err", err)
	}
}

// writeLog remembers, for each of a fixed number of slots that cache keys
// hash to, the sequence number of the last write. A read notes the
// sequence before it loads from the stores and fills the cache only if no
// write to its slot came since: its bytes may be older than that write's.
// Two keys sharing a slot only cost a skipped fill.
type writeLog struct {
	seq   atomic.Uint64
	slots [4096]atomic.Uint64
}

func (w *writeLog) now() uint64 { return w.seq.Load() }

func (w *writeLog) slot(key string) *atomic.Uint64 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &w.slots[h.Sum32()%uint32(len(w.slots))]
}

func (w *writeLog) note(key string) { w.slot(key).Store(w.seq.Add(1)) }

// last returns the sequence number of key's slot's last write.
func (w *writeLog) last(key string) uint64 { return w.slot(key).Load() }

// since reports whether key's slot was written after seq.
func (w *writeLog) since(key string, seq uint64) bool { return w.slot(key).Load() > seq }

// CacheKey maps an owner's image key to a cache key that fits memcached's
// rules (at most 250 bytes, no spaces or control characters): the key in
// URL-safe base64 when short enough, else its SHA-256.
func CacheKey(ownerID int64, key string) string {
	prefix := "i:" + strconv.FormatInt(ownerID, 10) + ":"
	enc := base64.RawURLEncoding.EncodeToString([]byte(key))
	if len(prefix)+len(enc) <= 200 {
		return prefix + enc
	}
	sum := sha256.Sum256([]byte(key))
	return prefix + "#" + hex.EncodeToString(sum[:])
}

type entryHeader struct {
	ID       int64  `json:"id"`
	Type     string `json:"t"`
	Width    int    `json:"w"`
	Height   int    `json:"h"`
	Checksum string `json:"c"`
	Created  int64  `json:"at"`
}

func encodeEntry(img *pixpool.Image, data []byte) []byte {
	return append(entryHead(img), data...)
}

// entryHead returns the start of img's entry, up to its bytes.
func entryHead(img *pixpool.Image) []byte {
	h, _ := json.Marshal(entryHeader{img.ID, img.ContentType, img.Width, img.Height, img.Checksum, img.CreatedAt.UnixMilli()})
	out := make([]byte, 0, len(entryMagic)+4+len(h))
	out = append(out, entryMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(h)))
	return append(out, h...)
}

// headMemo remembers decoded entry headers by their bytes: a hot image's
// entry is read again and again with the same header, and JSON decoding it
// was a measurable part of a cache hit. The header is a function of its
// bytes, so a remembered one is exactly what decoding would give.
type headMemo struct {
	mu sync.RWMutex
	m  map[string]entryHeader
}

func (hm *headMemo) decode(b []byte) (entryHeader, error) {
	hm.mu.RLock()
	h, ok := hm.m[string(b)]
	hm.mu.RUnlock()
	if ok {
		return h, nil
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return entryHeader{}, err
	}
	hm.mu.Lock()
	if hm.m == nil || len(hm.m) >= maxHeadMemo {
		hm.m = make(map[string]entryHeader)
	}
	hm.m[string(b)] = h
	hm.mu.Unlock()
	return h, nil
}

func decodeEntry(v []byte) (*pixpool.Image, []byte, error) {
	if !bytes.HasPrefix(v, entryMagic) || len(v) < len(entryMagic)+4 {
		return nil, nil, errors.New("bad cache entry")
	}
	v = v[len(entryMagic):]
	n := binary.BigEndian.Uint32(v)
	v = v[4:]
	if uint64(n) > uint64(len(v)) {
		return nil, nil, errors.New("bad cache entry length")
	}
	h, err := entryHeads.decode(v[:n])
	if err != nil {
		return nil, nil, err
	}
	data := v[n:]
	return &pixpool.Image{
		ID: h.ID, ContentType: h.Type, Width: h.Width, Height: h.Height, Checksum: h.Checksum,
		Size: int64(len(data)), CreatedAt: time.UnixMilli(h.Created).UTC(),
	}, data, nil
}

// cache entries: magic, then a length-prefixed JSON header, then the bytes.
var entryMagic = []byte("PXC1")

// maxHeadMemo bounds the headers remembered; past it the memo starts over.
const maxHeadMemo = 4096

var entryHeads headMemo
