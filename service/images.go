package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// Images stores and serves images: bytes in the blob store, metadata in
// the store, and a read-through cache in front of both.
type Images struct {
	Store pixpool.Store
	Blobs pixpool.BlobStore
	// Cache is read before the stores and filled on a miss. If nil, reads
	// go to the stores.
	Cache pixpool.Cache
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// MaxBytes bounds one image. If zero, 20 MiB.
	MaxBytes int64
	// MaxPixels bounds width×height. If zero, imaging.DefaultMaxPixels.
	MaxPixels int
	// Budget bounds the memory of the images decoded at once: uploads'
	// checks and thumbnails wait for room in it for a few seconds, then
	// fail with EUNAVAILABLE. Share one with the Analyzer. If nil,
	// decoding is not bounded.
	Budget *imaging.Budget
	// ThumbSide is the longest side of gallery thumbnails. If zero, 320.
	ThumbSide int
	// VariantSizes are the variant sizes anyone may ask for; others need
	// a signature (SignVariant). If nil, pixpool.DefaultVariantSizes.
	VariantSizes []pixpool.VariantSize
	// Policies gives the storage policy (quotas, trash, originals). If
	// nil, pixpool.DefaultPolicy applies.
	Policies *Policies
	// Stored, if set, is called after an image is stored or replaced (the
	// analysis queue hooks in here).
	Stored func(ctx context.Context, img *pixpool.Image)
	// Serving, if set, tracks the requests being served. An upload that
	// comes while others are being served has its thumbnail queued (at
	// most MaxPendingThumbs), to be made from the stored bytes, one at a
	// time, once serving is idle (Activity.Wait), each tried up to 3
	// times. Under a steady upload load the CPU then goes to uploads
	// (checking them), and the thumbnails, which cost as much again, wait
	// for a pause; a thumbnail not
	// made yet is made on demand by Thumbnail. Otherwise, and if Serving is
	// nil, the thumbnail is made at once in the background (a few at a
	// time) from the image decoded to check it.
	Serving *Activity
	// MaxPendingThumbs bounds the thumbnails queued while serving is busy;
	// past it they are left to Thumbnail. If zero, 100000.
	MaxPendingThumbs int

	// beforeCommit, if set, runs after the bytes are stored and before the
	// row is committed; tests use it to inject a crash.
	beforeCommit func() error

	loads      singleflight.Group // one store read per key at a time
	writes     writeLog           // recent writes, so stale reads do not fill the cache
	quotas     quotaReservations  // uploads being stored, per owner, not yet in Usage
	background sync.WaitGroup     // thumbnails being made
	slotsOnce  sync.Once
	slots      chan struct{} // bounds background thumbnails

	thumbMu      sync.Mutex
	thumbQueue   []thumbJob    // guarded by thumbMu: thumbnails to make when idle
	thumbWorking bool          // guarded by thumbMu: a worker drains thumbQueue
	thumbStop    chan struct{} // guarded by thumbMu: closed by Shutdown
	// thumbRetry is the pause before a queued thumbnail's next try, times
	// the tries so far. If zero, a second.
	thumbRetry time.Duration

	variantKey atomic.Pointer[[]byte] // the key that signs variant specs, once read

	purgeBatch int // PurgeExpired's batch; if zero, PurgeExpiredBatch (tests make it small)
}

// DefaultMaxBytes is the default image size limit.
const DefaultMaxBytes = 20 << 20

// MaxBytesLimit returns the effective size limit.
func (s *Images) MaxBytesLimit() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Images) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Images) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Put stores data as ownerID's image under key, replacing any image there.
// The bytes are written (atomically) before the row is committed, so a
// failure at any point leaves either the old image or the new one, never a
// row without bytes; unreferenced bytes are removed by SweepOrphans.
func (s *Images) Put(ctx context.Context, ownerID int64, key string, data []byte) (*pixpool.Image, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The file is empty.")
	}
	if limit := s.MaxBytesLimit(); int64(len(data)) > limit {
		return nil, TooLarge(limit)
	}
	// While other requests are being served (Serving), the thumbnail is
	// queued, to be made from the stored bytes once serving is idle, and
	// the image is only checked (Decoder.Check: a JPEG is entropy-decoded
	// without making its pixels when the checker can vouch for it); else
	// it is decoded, and the thumbnail made at once from that image.
	queue := s.Serving != nil && s.Serving.Inflight() > 1
	var (
		info    imaging.Info
		decoded *imaging.Decoded
		err     error
	)
	if queue {
		info, err = s.decoder().Check(ctx, data)
	} else {
		decoded, err = s.decoder().Decode(ctx, data)
		if err == nil {
			info = decoded.Info
		}
	}
	if err != nil {
		return nil, err
	}
	// The decoded image holds its share of the budget until the thumbnail
	// made from it is done, or until Put returns if none is made now.
	handedOver := false
	defer func() {
		if !handedOver {
			decoded.Release()
		}
	}()
	// What is served is the upload without its metadata (privacy.go).
	source := data
	st, err := s.strip(source)
	if err != nil {
		return nil, err
	}
	data = st.data
	// The quota check, once the sizes stored are known (quota.go).
	releaseQuota, err := s.reserveQuota(ctx, ownerID, key, int64(len(data)), originalSize(source, data))
	if err != nil {
		return nil, err
	}
	defer releaseQuota()
	sum := sha256.Sum256(data)
	id := newBlobID()
	img := &pixpool.Image{
		OwnerID:        ownerID,
		Key:            key,
		BlobKey:        pixpool.ImageBlobKey(id, info.Format),
		Size:           int64(len(data)),
		ContentType:    info.ContentType,
		Width:          info.Width,
		Height:         info.Height,
		Checksum:       hex.EncodeToString(sum[:]),
		CreatedAt:      s.now(),
		Metadata:       st.meta,
		SourceChecksum: sourceChecksum(source),
	}
	if err := s.Blobs.Put(ctx, img.BlobKey, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	if err := s.keepOriginal(ctx, img, id, info.Format, source, data); err != nil {
		s.removeBlobs(img.BlobKey)
		return nil, err
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return nil, err // as a crash would: the bytes stay for the sweeper
		}
	}
	// The thumbnail is named now and made after the commit, off the
	// request's path; Thumbnail makes it on demand if that has not happened.
	img.ThumbKey = pixpool.ThumbBlobKey(id)
	fresh := *img
	old, err := s.Store.PutImage(ctx, img)
	if err != nil {
		// The row may be committed even so (its sync failed): then the
		// bytes are its, not an orphan.
		if cur, cerr := s.Store.Image(context.WithoutCancel(ctx), ownerID, key); cerr != nil || cur.BlobKey != fresh.BlobKey {
			s.removeBlobs(fresh.BlobKey, fresh.OriginalKey)
		}
		return nil, err
	}
	// An identical image of the owner's already had these bytes: the row
	// shares its files (deduplication), and the fresh ones, referenced by
	// no row, go; so does the thumbnail to make, which exists or is made
	// on demand by Thumbnail.
	shared := img.BlobKey != fresh.BlobKey
	if shared {
		s.removeBlobs(fresh.BlobKey, fresh.OriginalKey)
	}
	// The new row is committed: readers now load the new bytes. Write them
	// through, so a reader that loaded the old row before the commit cannot
	// put it back with its Add, and note the write, so that such a reader
	// does not fill the cache even if this value is evicted at once.
	s.writes.note(CacheKey(ownerID, key))
	s.fill(ctx, img, data, true)
	if old != nil {
		s.forgetVariants(ctx, old)
		s.removeFiles(old)
	}
	switch {
	case shared:
	case queue:
		s.queueThumbnail(thumbJob{ownerID: img.OwnerID, key: img.Key, thumbKey: img.ThumbKey})
	default:
		handedOver = s.makeThumbnailLater(img, decoded, st.orientation)
	}
	if s.Stored != nil {
		s.Stored(ctx, img)
	}
	s.logger().Info("image stored", "owner", ownerID, "key", key, "bytes", img.Size, "type", img.ContentType, "replaced", old != nil, "deduplicated", shared)
	return img, nil
}

// TooLarge is the error for an image over limit bytes.
func TooLarge(limit int64) error {
	return pixpool.Errorf(pixpool.ETOOLARGE, "The image is larger than the limit of %s.", FormatBytes(limit))
}

// FormatBytes writes n as a short human size such as "20 MiB".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// policy returns the storage policy in force.
func (s *Images) policy(ctx context.Context) (pixpool.Policy, error) {
	if s.Policies == nil {
		return pixpool.DefaultPolicy, nil
	}
	return s.Policies.Get(ctx)
}

// removeFiles deletes the files of an image whose row is gone (replaced or
// deleted): its bytes, thumbnail, kept original and variants, unless
// another row still shares them (FilesShared, which the store decided in
// the transaction that removed the row; variants are made of the shared
// bytes).
func (s *Images) removeFiles(img *pixpool.Image) {
	if img.FilesShared {
		return
	}
	s.removeBlobs(img.BlobKey, img.ThumbKey, img.OriginalKey)
	s.removeVariants(img)
}

// removeBlobs deletes blobs in the background of a request: a failure is
// only logged, since the sweeper will find the orphan later.
func (s *Images) removeBlobs(keys ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := s.Blobs.Delete(ctx, k); err != nil {
			s.logger().Warn("delete blob", "blob", k, "err", err)
		}
	}
}

// Get returns ownerID's image under key and its bytes, from the cache if
// it has them, else from the stores (filling the cache). Another user's
// key is ENOTFOUND, exactly like a missing one.
func (s *Images) Get(ctx context.Context, ownerID int64, key string) (*pixpool.Image, []byte, error) {
	return s.get(ctx, ownerID, key, -1)
}

// GetUpTo is Get for an image of at most limit bytes. A larger one not in
// the cache comes back without its bytes (nil data), which are not read:
// a caller that sends such an image elsewhere (Lambda mode's redirect to
// S3) needs only its row. Its row is read first, one query more than Get
// on a cache miss.
func (s *Images) GetUpTo(ctx context.Context, ownerID int64, key string, limit int64) (*pixpool.Image, []byte, error) {
	return s.get(ctx, ownerID, key, max(limit, 0))
}

// get is Get, and GetUpTo for a limit of 0 or more.
func (s *Images) get(ctx context.Context, ownerID int64, key string, limit int64) (*pixpool.Image, []byte, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, nil, err
	}
	ck := CacheKey(ownerID, key)
	if img, data, ok := s.cached(ctx, ck, ownerID, key); ok {
		return img, data, nil
	}
	if limit >= 0 {
		img, err := s.Store.Image(ctx, ownerID, key)
		if err != nil {
			return nil, nil, err
		}
		if img.Size > limit {
			return img, nil, nil
		}
	}
	type loaded struct {
		img  *pixpool.Image
		data []byte
	}
	// Concurrent misses on one key share one load; the load must not be
	// cut short by the first caller's context. A read that comes after a
	// write to the key must not join a load that began before it, so the
	// flight is named by the key's last write too.
	flight := ck + "\x00" + strconv.FormatUint(s.writes.last(ck), 10)
	v, err, _ := s.loads.Do(flight, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		since := s.writes.now()
		img, entry, data, err := s.load(lctx, ownerID, key)
		if err != nil {
			return nil, err
		}
		if !s.writes.since(ck, since) {
			s.fillEntry(lctx, ck, entry, false)
		}
		return loaded{img, data}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	l := v.(loaded)
	return l.img, l.data, nil
}

// cached returns the image entry (an original's or a variant's) under the
// cache key ck, as ownerID's image under key, if the cache has a readable
// one. A cache failure is only a miss.
func (s *Images) cached(ctx context.Context, ck string, ownerID int64, key string) (*pixpool.Image, []byte, bool) {
	if s.Cache == nil {
		return nil, nil, false
	}
	v, err := s.Cache.Get(ctx, ck)
	if err != nil {
		if !errors.Is(err, pixpool.ErrCacheMiss) {
			s.logger().Debug("cache get", "cache_key", ck, "err", err)
		}
		return nil, nil, false
	}
	img, data, err := decodeEntry(v)
	if err != nil {
		s.logger().Warn("cache entry unreadable", "cache_key", ck)
		return nil, nil, false
	}
	img.OwnerID, img.Key = ownerID, key
	return img, data, true
}

// Info returns the metadata of ownerID's image under key.
func (s *Images) Info(ctx context.Context, ownerID int64, key string) (*pixpool.Image, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, err
	}
	return s.Store.Image(ctx, ownerID, key)
}

// decoder decodes within MaxPixels and Budget.
func (s *Images) decoder() *imaging.Decoder {
	return &imaging.Decoder{MaxPixels: s.MaxPixels, Budget: s.Budget}
}

// load reads an image's row and bytes. A replace or delete between the two
// removes the bytes the row named; then the row is read again, so a read
// racing a write answers with the new image (or not found), never fails.
// The bytes are read into the image's cache entry (nil without a cache),
// of which data is the tail.
func (s *Images) load(ctx context.Context, ownerID int64, key string) (img *pixpool.Image, entry, data []byte, err error) {
	for attempt := 0; ; attempt++ {
		img, err := s.Store.Image(ctx, ownerID, key)
		if err != nil {
			return nil, nil, nil, err
		}
		var head []byte
		if s.Cache != nil {
			head = entryHead(img)
		}
		entry, err := s.readBlobAfter(ctx, img.BlobKey, head, img.Size)
		if err == nil {
			return img, entry, entry[len(head):], nil
		}
		if !errors.Is(err, errBytesMissing) || attempt == 2 {
			return nil, nil, nil, err
		}
	}
}

// errBytesMissing marks a row whose bytes are gone: damage, or a row read
// just before a replace or delete removed them.
var errBytesMissing = errors.New("image bytes missing")

func (s *Images) readBlob(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.openBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// openBlob opens a row's bytes; a row whose bytes are gone is damage
// (errBytesMissing), not a user error.
func (s *Images) openBlob(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Blobs.Get(ctx, key)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, fmt.Errorf("%w: %w", errBytesMissing, err)
	}
	return rc, err
}

// readBlobAfter reads a blob of about size bytes into one buffer after
// head (a cache entry's header): sized up front, the read neither grows
// the buffer nor copies it, and filling the cache copies nothing.
func (s *Images) readBlobAfter(ctx context.Context, key string, head []byte, size int64) ([]byte, error) {
	rc, err := s.openBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	size = min(max(size, 0), s.MaxBytesLimit())         // a damaged row asks for no more
	b := make([]byte, len(head), len(head)+int(size)+1) // +1: EOF without growing
	copy(b, head)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		} else if err != nil {
			return nil, err
		}
	}
}

// List returns a page of ownerID's images ordered by key.
func (s *Images) List(ctx context.Context, ownerID int64, prefix, after string, limit int) ([]*pixpool.Image, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return s.Store.Images(ctx, pixpool.ImageFilter{OwnerID: ownerID, Prefix: prefix, After: after, Limit: limit})
}

// Newest returns ownerID's n most recently uploaded images, newest first.
func (s *Images) Newest(ctx context.Context, ownerID int64, n int) ([]*pixpool.Image, error) {
	return s.Store.Images(ctx, pixpool.ImageFilter{OwnerID: ownerID, Newest: true, Limit: n})
}

// Count counts ownerID's images.
func (s *Images) Count(ctx context.Context, ownerID int64) (int, error) {
	return s.Store.CountImages(ctx, pixpool.ImageFilter{OwnerID: ownerID})
}

// Delete removes ownerID's image under key for good, bypassing the trash
// (Trash is what users' deletes do): the row first (so no reader finds
// it), then the cache entry and the bytes (unless shared).
func (s *Images) Delete(ctx context.Context, ownerID int64, key string) error {
	if err := pixpool.ValidateKey(key); err != nil {
		return err
	}
	img, err := s.Store.DeleteImage(ctx, ownerID, key)
	if err != nil {
		return err
	}
	s.invalidate(ctx, ownerID, key)
	s.forgetVariants(ctx, img)
	s.removeFiles(img)
	s.logger().Info("image deleted", "owner", ownerID, "key", key)
	return nil
}

func (s *Images) invalidate(ctx context.Context, ownerID int64, key string) {
	s.writes.note(CacheKey(ownerID, key))
	if s.Cache == nil {
		return
	}
	if err := s.Cache.Delete(ctx, CacheKey(ownerID, key)); err != nil {
		s.logger().Warn("cache delete", "owner", ownerID, "key", key, "err", err)
	}
}

// DeleteOwned removes every image of one owner for good, and empties
// their trash, and reports how many images (not counting the trash).
func (s *Images) DeleteOwned(ctx context.Context, ownerID int64) (int, error) {
	n := 0
	for {
		page, err := s.Store.Images(ctx, pixpool.ImageFilter{OwnerID: ownerID, Limit: 500})
		if err == nil && len(page) == 0 {
			_, err = s.EmptyTrash(ctx, ownerID)
		}
		if err != nil || len(page) == 0 {
			return n, err
		}
		for _, img := range page {
			if err := s.Delete(ctx, ownerID, img.Key); err != nil && pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
				return n, err
			}
			n++
		}
	}
}

// Flusher is a Cache that can drop everything at once.
type Flusher interface {
	Flush(ctx context.Context) error
}

// DeleteAll removes every image of every user for good, the trash
// included: all rows, then the cache, then the bytes (any left behind by
// a crash are swept). It reports how many images and trash entries went.
func (s *Images) DeleteAll(ctx context.Context) (images, trashed int, err error) {
	var keys []string
	if err := s.Store.ImageBlobKeys(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		return 0, 0, err
	}
	n, err := s.Store.DeleteAllImages(ctx)
	if err != nil {
		return 0, 0, err
	}
	if trashed, err = s.Store.DeleteAllTrash(ctx); err != nil {
		return n, 0, err
	}
	if f, ok := s.Cache.(Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			s.logger().Warn("cache flush", "err", err)
		}
	}
	// A row written meanwhile (an upload sharing a trash entry's files, a
	// restore between the two deletes) may name files listed above: they
	// stay.
	again := make(map[string]bool)
	if err := s.Store.ImageBlobKeys(ctx, func(k string) error { again[k] = true; return nil }); err != nil {
		return n, trashed, err // the files are left to the sweeper
	}
	s.removeBlobs(slices.DeleteFunc(keys, func(k string) bool { return again[k] })...)
	s.logger().Info("all images deleted", "images", n, "trashed", trashed)
	return n, trashed, nil
}

// SweepOrphans deletes stored bytes that no image row references and that
// are older than grace (younger ones may belong to an upload in flight on
// another replica). It reports how many it removed. With no image rows at
// all it removes nothing: see the comment inside.
func (s *Images) SweepOrphans(ctx context.Context, grace time.Duration) (int, error) {
	live := make(map[string]bool)
	if err := s.Store.ImageBlobKeys(ctx, func(k string) error { live[k] = true; return nil }); err != nil {
		return 0, err
	}
	cutoff := s.now().Add(-grace)
	var orphans []string
	for _, prefix := range []string{"img/", "thumb/", "orig/", "var/"} {
		err := s.Blobs.List(ctx, prefix, func(b pixpool.BlobInfo) error {
			if !live[b.Key] && !b.ModTime.After(cutoff) {
				orphans = append(orphans, b.Key)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if len(live) == 0 && len(orphans) > 0 {
		// No record at all but image files in the blob store: most likely
		// a new, empty database on a blob store that another install (or
		// a backup about to be restored) still needs. Removing them would
		// be irreversible; leftovers cost only space.
		s.logger().Warn("the database has no images but the blob store has image files: not removing them; restore a backup (pixpool backup restore) or point --blob elsewhere",
			"files", len(orphans))
		return 0, nil
	}
	if len(orphans) > 0 {
		// A row moved between images and the trash (a restore, a delete)
		// while the walk above read the other table was seen in neither;
		// a second walk, after the move, sees it.
		again := make(map[string]bool)
		if err := s.Store.ImageBlobKeys(ctx, func(k string) error { again[k] = true; return nil }); err != nil {
			return 0, err
		}
		orphans = slices.DeleteFunc(orphans, func(k string) bool { return again[k] })
	}
	n := 0
	for _, k := range orphans {
		if err := s.Blobs.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	if n > 0 {
		s.logger().Info("swept orphaned blobs", "count", n)
	}
	return n, nil
}

func newBlobID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
