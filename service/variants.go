package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// Variants (see pixpool.VariantSpec): a variant is rendered from the
// image's bytes once, kept in the blob store and recorded in the store,
// and kept in the cache like originals under the image's cache key with
// the spec appended. Only the allowlisted sizes (VariantSizes) may be
// asked for freely; any other spec needs a signature from SignVariant,
// so that nobody makes the server render and keep arbitrary sizes.

// VariantKeySetting names the stored secret that signs variant specs. It
// is made on first use and shared by every replica; no backup holds it,
// and a restore keeps the running one.
const VariantKeySetting = "variants.key"

// variantSigLen is the bytes of HMAC-SHA256 a signature keeps: 128 bits
// are beyond guessing and keep URLs short.
const variantSigLen = 16

// EffectiveVariantSizes returns the allowlist in force.
func (s *Images) EffectiveVariantSizes() []pixpool.VariantSize {
	if s.VariantSizes != nil {
		return s.VariantSizes
	}
	return pixpool.DefaultVariantSizes
}

// VariantAllowed reports whether spec may be asked for without a
// signature.
func (s *Images) VariantAllowed(spec pixpool.VariantSpec) bool {
	for _, z := range s.EffectiveVariantSizes() {
		if z.Allows(spec) {
			return true
		}
	}
	return false
}

// SignVariant returns the signature that lets ownerID ask for the variant
// spec of the image under key, whatever the allowlist says.
func (s *Images) SignVariant(ctx context.Context, ownerID int64, key string, spec pixpool.VariantSpec) (string, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return "", err
	}
	if err := spec.Validate(); err != nil {
		return "", err
	}
	k, err := s.signingKey(ctx, true)
	if err != nil {
		return "", err
	}
	return variantMAC(k, ownerID, key, spec), nil
}

func variantMAC(k []byte, ownerID int64, key string, spec pixpool.VariantSpec) string {
	m := hmac.New(sha256.New, k)
	for _, f := range []string{"pixpool variant v1", strconv.FormatInt(ownerID, 10), key, spec.String()} {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:variantSigLen])
}

// checkVariant lets spec through if it is allowlisted or sig signs it:
// EINVALID, listing the allowed sizes, for an unsigned one; EFORBIDDEN
// for a wrong signature.
func (s *Images) checkVariant(ctx context.Context, ownerID int64, key string, spec pixpool.VariantSpec, sig string) error {
	if sig == "" {
		if s.VariantAllowed(spec) {
			return nil
		}
		var sizes []string
		for _, z := range s.EffectiveVariantSizes() {
			sizes = append(sizes, z.String())
		}
		if len(sizes) == 0 {
			return pixpool.Errorf(pixpool.EINVALID, "This server renders variants only from signed URLs: get one from GET /api/v1/variants/sign/{key}.")
		}
		return pixpool.Errorf(pixpool.EINVALID, "Variant size %s is not one this server renders on request: %s (a width N allows w=N, h=N or the square w=N&h=N; a box WxH allows exactly it). For another size, get a signed URL from GET /api/v1/variants/sign/{key}.",
			boxString(spec), strings.Join(sizes, ", "))
	}
	k, err := s.signingKey(ctx, false)
	if err != nil && pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		return err
	}
	if err != nil || !hmac.Equal([]byte(sig), []byte(variantMAC(k, ownerID, key, spec))) {
		return pixpool.Errorf(pixpool.EFORBIDDEN, "The signature (sig) does not match this image and these parameters: get a new signed URL, and keep w, h, fit and format as it gives them.")
	}
	return nil
}

// boxString writes spec's box as a person reads it: "500", "x300",
// "500x300".
func boxString(spec pixpool.VariantSpec) string {
	switch {
	case spec.Height == 0:
		return "w=" + strconv.Itoa(spec.Width)
	case spec.Width == 0:
		return "h=" + strconv.Itoa(spec.Height)
	}
	return strconv.Itoa(spec.Width) + "x" + strconv.Itoa(spec.Height)
}

// signingKey returns the key that signs variant specs, making and storing
// one if there is none and create is set. As with device keys, two
// replicas making one at once both use the one stored first (AddSetting):
// each keeps the key for good once read, so one that replaced another's
// would leave the two replicas refusing each other's signed URLs.
func (s *Images) signingKey(ctx context.Context, create bool) ([]byte, error) {
	if k := s.variantKey.Load(); k != nil {
		return *k, nil
	}
	v, err := s.Store.Setting(ctx, VariantKeySetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND && create {
		v, err = s.Store.AddSetting(ctx, VariantKeySetting, randomToken(32))
	}
	if err != nil {
		return nil, err
	}
	k := []byte(v)
	s.variantKey.Store(&k)
	return k, nil
}

// variantCacheKey is the cache key of a variant: the image's, then the
// spec as asked (its format may be left to the original's). At most 250
// bytes: CacheKey's are at most 223 with an owner id of 19 digits, a spec
// at most 22.
func variantCacheKey(ownerID int64, key string, spec pixpool.VariantSpec) string {
	return CacheKey(ownerID, key) + "~" + spec.String()
}

// Variant returns ownerID's image under key rendered as spec, and its
// bytes: from the cache, else from the blob store if it was rendered
// before, else rendered now (once, however many ask at the same time) from
// the image's bytes, decoded within the Budget. The image returned
// describes the variant: its type, size, an ETag (Checksum) of its own,
// and its BlobKey ("" when it came from the cache, or was not stored because it did not fit its owner's byte quota). A spec that would give the image itself (same format and size,
// upright) gives the image. sig is SignVariant's signature, "" for an
// allowlisted spec (see checkVariant's errors). Another user's key is
// ENOTFOUND, as in Get.
func (s *Images) Variant(ctx context.Context, ownerID int64, key string, spec pixpool.VariantSpec, sig string) (*pixpool.Image, []byte, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	if err := s.checkVariant(ctx, ownerID, key, spec, sig); err != nil {
		return nil, nil, err
	}
	ck := variantCacheKey(ownerID, key, spec)
	if img, data, ok := s.cached(ctx, ck, ownerID, key); ok {
		return img, data, nil
	}
	// As in get: one load per variant at a time, and a read after a
	// write to the image joins no load that began before it. Writes are
	// noted under the image's own cache key.
	ik := CacheKey(ownerID, key)
	flight := "var:" + ck + "\x00" + strconv.FormatUint(s.writes.last(ik), 10)
	v, err, _ := s.loads.Do(flight, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		since := s.writes.now()
		img, data, uncached, err := s.loadVariant(lctx, ownerID, key, spec)
		if err != nil || uncached {
			return variantResult{img, data}, err
		}
		if s.Cache != nil && !s.writes.since(ik, since) {
			s.fillEntry(lctx, ck, encodeEntry(img, data), false)
		}
		return variantResult{img, data}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	r := v.(variantResult)
	return r.img, r.data, nil
}

type variantResult struct {
	img  *pixpool.Image
	data []byte
}

// loadVariant reads a variant from the blob store, or renders and keeps
// it. uncached reports that what it returns must not be cached under
// the variant's key: the image itself, when the spec asks for it (its
// row and bytes, from Get, so from the cache), or a variant over its
// owner's quota, not stored (cached under its unkeptCacheKey). As load does,
// it reads the row again when the image's bytes went missing under it (a
// replace or delete removed them), so a request racing a write answers
// with the new image (or not found) rather than fails.
func (s *Images) loadVariant(ctx context.Context, ownerID int64, key string, spec pixpool.VariantSpec) (img *pixpool.Image, data []byte, uncached bool, err error) {
	for attempt := 0; ; attempt++ {
		img, data, uncached, err = s.loadVariantOnce(ctx, ownerID, key, spec)
		if !errors.Is(err, errBytesMissing) || attempt == 2 {
			return img, data, uncached, err
		}
	}
}

func (s *Images) loadVariantOnce(ctx context.Context, ownerID int64, key string, spec pixpool.VariantSpec) (_ *pixpool.Image, _ []byte, uncached bool, err error) {
	img, err := s.Store.Image(ctx, ownerID, key)
	if err != nil {
		return nil, nil, false, err
	}
	id, err := pixpool.ImageBlobID(img)
	if err != nil {
		return nil, nil, false, err
	}
	resolved := spec
	if resolved.Format == "" {
		resolved.Format = variantFormat(img.ContentType)
	}
	// The variant's own description: its type, ETag and blob.
	out := *img
	out.ContentType = "image/" + resolved.Format
	out.Checksum = img.Checksum + "-" + resolved.String()
	out.BlobKey = pixpool.VariantBlobKey(id, resolved)
	out.ThumbKey, out.ThumbSize, out.OriginalKey, out.OriginalSize, out.Metadata = "", 0, "", 0, ""

	// A variant not stored (over its owner's quota, below) is cached under
	// its source bytes' id, which a replace changes: it needs no record
	// for a replace or delete to drop it, and is never served stale.
	unkept := unkeptCacheKey(id, resolved)

	// Rendered before?
	if v, err := s.Store.Variant(ctx, img.BlobKey, resolved.String()); err == nil {
		data, err := s.readBlob(ctx, v.BlobKey)
		switch {
		case err == nil:
			info, err := imaging.Dimensions(data)
			if err != nil {
				return nil, nil, false, fmt.Errorf("variant %q: %w", v.BlobKey, err)
			}
			out.Width, out.Height, out.Size = info.Width, info.Height, int64(len(data))
			return &out, data, false, nil
		case !errors.Is(err, errBytesMissing):
			return nil, nil, false, err
		}
		// Its bytes are gone (swept after a restore): render it again.
	} else if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		return nil, nil, false, err
	} else if got, data, ok := s.cached(ctx, unkept, ownerID, key); ok {
		return got, data, true, nil
	}

	src, err := s.readBlob(ctx, img.BlobKey)
	if err != nil {
		return nil, nil, false, err
	}
	o := imaging.Orientation(src)
	box := imaging.Box{Width: spec.Width, Height: spec.Height, Cover: spec.Fit == pixpool.FitCover}
	if w, h, _ := imaging.VariantGeometry(img.Width, img.Height, o, box); w == img.Width && h == img.Height &&
		o <= 1 && "image/"+resolved.Format == img.ContentType {
		got, data, err := s.Get(ctx, ownerID, key)
		return got, data, true, err
	}
	dec := s.decoder()
	dec.Extra = func(w, h int) int64 { return imaging.RenderCost(w, h, o, box, resolved.Format) }
	decoded, err := dec.Decode(ctx, src)
	if err != nil {
		return nil, nil, false, err
	}
	data, w, h, err := imaging.Render(decoded.Image, o, box, resolved.Format)
	decoded.Release()
	if err != nil {
		return nil, nil, false, err
	}
	out.Width, out.Height, out.Size = w, h, int64(len(data))

	// A variant counts in its owner's usage: one that does not fit their
	// quota is served but not stored, or every signed size would grow
	// their storage past it; nor cached under the variant's key, since
	// without a record a replace or delete could not find the entry to
	// drop it, but under unkept, so that it is not rendered again for
	// every request.
	release, fits, err := s.reserveVariant(ctx, ownerID, int64(len(data)))
	if err != nil {
		return nil, nil, false, err
	}
	defer release()
	if !fits {
		s.logger().Info("variant not kept: over quota", "owner", ownerID, "key", key, "spec", resolved.String(), "bytes", len(data))
		out.BlobKey = ""
		s.fillEntry(ctx, unkept, encodeEntry(&out, data), false)
		return &out, data, true, nil
	}

	v := &pixpool.Variant{
		BlobKey:   out.BlobKey,
		SourceKey: img.BlobKey,
		OwnerID:   ownerID,
		Spec:      resolved.String(),
		Size:      int64(len(data)),
		CreatedAt: s.now(),
	}
	if err := s.Blobs.Put(ctx, v.BlobKey, bytes.NewReader(data)); err != nil {
		return nil, nil, false, err
	}
	if err := s.Store.PutVariant(ctx, v); err != nil {
		s.removeBlobs(v.BlobKey)
		return nil, nil, false, err
	}
	// The image may have been replaced or deleted while this rendered,
	// its variants removed before this one was recorded: do not leave it,
	// and do not answer with it either, since the caller would cache it
	// when the write came from another replica (whose writes this one's
	// log does not see): load the image again instead, as for bytes that
	// went missing.
	if cur, err := s.Store.Image(ctx, ownerID, key); err != nil && pixpool.ErrorCode(err) == pixpool.ENOTFOUND || err == nil && cur.BlobKey != img.BlobKey {
		s.removeVariants(img)
		return nil, nil, false, fmt.Errorf("%w: %q changed while its variant rendered", errBytesMissing, key)
	}
	s.logger().Info("variant rendered", "owner", ownerID, "key", key, "spec", v.Spec, "bytes", v.Size)
	return &out, data, false, nil
}

// variantFormat is the format of a variant of an image of contentType
// when none is asked for: the image's own, a GIF's being PNG (a variant
// is a still picture).
func variantFormat(contentType string) string {
	switch contentType {
	case "image/png", "image/gif":
		return "png"
	case "image/webp":
		return "webp"
	}
	return "jpeg"
}

// unkeptCacheKey is the cache key of a variant not stored (over quota)
// of the image whose blob id is id: "i:v:<id>~<spec>", which no image's
// CacheKey ("i:<owner id>:...") can be.
func unkeptCacheKey(id string, resolved pixpool.VariantSpec) string {
	return "i:v:" + id + "~" + resolved.String()
}

// forgetVariants drops from the cache the variants of img, an image that
// was replaced or deleted: every spec rendered from its bytes, as
// recorded, in the form asked (its format given or left out). A variant
// is only cached after its record is committed, so none is missed; one
// rendering while this runs sees the image's write and does not fill the
// cache.
func (s *Images) forgetVariants(ctx context.Context, img *pixpool.Image) {
	if s.Cache == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	vs, err := s.Store.VariantsOf(ctx, img.BlobKey)
	if err != nil {
		s.logger().Warn("forget variants", "owner", img.OwnerID, "key", img.Key, "err", err)
		return
	}
	base := CacheKey(img.OwnerID, img.Key) + "~"
	for _, v := range vs {
		keys := []string{base + v.Spec}
		if i := strings.LastIndexByte(v.Spec, '.'); i > 0 {
			keys = append(keys, base+v.Spec[:i])
		}
		for _, k := range keys {
			if err := s.Cache.Delete(ctx, k); err != nil && !errors.Is(err, pixpool.ErrCacheMiss) {
				s.logger().Warn("cache delete", "cache_key", k, "err", err)
			}
		}
	}
}

// removeVariants deletes the variants made from img's bytes: their
// records, then their blobs (a failure is left to the sweeper).
func (s *Images) removeVariants(img *pixpool.Image) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vs, err := s.Store.DeleteVariants(ctx, img.BlobKey)
	if err != nil {
		s.logger().Warn("delete variants", "blob", img.BlobKey, "err", err)
		return
	}
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.BlobKey
	}
	s.removeBlobs(keys...)
}
