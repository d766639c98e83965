package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// stripped is an upload made ready to serve by strip.
type stripped struct {
	data []byte // the bytes to serve
	// meta is what the metadata said, as JSON of pixpool.ImageMetadata;
	// "" if nothing was removed.
	meta string
	// orientation is the EXIF orientation the served bytes keep (0 or
	// 1: none), for the thumbnail.
	orientation int
}

// strip returns an upload without the metadata that may say who took it,
// where and with what (imaging.Strip), and what that metadata said. The
// pixels are untouched.
func (s *Images) strip(data []byte) (stripped, error) {
	st, err := imaging.Strip(data)
	if err != nil {
		return stripped{}, err
	}
	out := stripped{data: st.Data, orientation: st.KeptOrientation()}
	if st.Metadata.Empty() {
		return out, nil
	}
	b, err := json.Marshal(st.Metadata)
	if err != nil {
		return stripped{}, fmt.Errorf("image metadata: %w", err)
	}
	out.meta = string(b)
	return out, nil
}

// sourceChecksum is the hex SHA-256 of an upload as it came.
func sourceChecksum(source []byte) string {
	sum := sha256.Sum256(source)
	return hex.EncodeToString(sum[:])
}

// keepOriginal stores the upload as it came (source) beside the stripped
// bytes served, under the blob id of img, when the storage policy keeps
// originals and stripping changed something; it sets img.OriginalKey and
// OriginalSize.
func (s *Images) keepOriginal(ctx context.Context, img *pixpool.Image, id, format string, source, served []byte) error {
	if bytes.Equal(source, served) {
		return nil
	}
	pol, err := s.policy(ctx)
	if err != nil {
		return err
	}
	if !pol.KeepOriginals {
		return nil
	}
	key := pixpool.OriginalBlobKey(id, format)
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(source)); err != nil {
		return err
	}
	img.OriginalKey, img.OriginalSize = key, int64(len(source))
	return nil
}

// Original returns ownerID's image under key with its original: the bytes
// as uploaded, metadata and all. Its errors are OriginalInfo's.
func (s *Images) Original(ctx context.Context, ownerID int64, key string) (*pixpool.Image, []byte, error) {
	img, err := s.OriginalInfo(ctx, ownerID, key)
	if err != nil {
		return nil, nil, err
	}
	data, err := s.readBlob(ctx, img.OriginalKey)
	if err != nil {
		return nil, nil, err
	}
	return img, data, nil
}

// OriginalInfo returns ownerID's image under key if its original can be
// downloaded. Another user's key is ENOTFOUND like a missing one; an
// image without a kept original is ENOTFOUND saying why; if the admins
// stopped keeping originals since, its download is EFORBIDDEN.
func (s *Images) OriginalInfo(ctx context.Context, ownerID int64, key string) (*pixpool.Image, error) {
	img, err := s.Info(ctx, ownerID, key)
	if err != nil {
		return nil, err
	}
	if img.OriginalKey == "" {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "Image “%s” has no original kept: either it had no metadata to remove, so what is served is the upload itself, or originals were not being kept when it was uploaded.", key)
	}
	pol, err := s.policy(ctx)
	if err != nil {
		return nil, err
	}
	if !pol.KeepOriginals {
		return nil, pixpool.Errorf(pixpool.EFORBIDDEN, "The administrator turned original downloads off; the image as served, without its metadata, can still be downloaded.")
	}
	return img, nil
}

// OriginalsAllowed reports whether the storage policy lets owners
// download the originals that were kept.
func (s *Images) OriginalsAllowed(ctx context.Context) bool {
	pol, err := s.policy(ctx)
	return err == nil && pol.KeepOriginals
}

// ForStrangers returns what of an image and its bytes as served may be
// shown to people other than its owner (share links). An image stored
// before uploads were stripped (an upgrade, an older backup restored:
// it has no SourceChecksum) still holds its metadata, GPS position and
// all: its bytes are stripped now, and the image returned is a copy with
// their size and checksum. Any other image comes back as it is. An image
// whose metadata cannot be removed is not shown (EINVALID).
func ForStrangers(img *pixpool.Image, data []byte) (*pixpool.Image, []byte, error) {
	if img.SourceChecksum != "" {
		return img, data, nil
	}
	st, err := imaging.Strip(data)
	if err != nil {
		return nil, nil, pixpool.Errorf(pixpool.EINVALID, "This image cannot be shown through a link: its metadata could not be removed. Ask its owner to upload it again.")
	}
	if len(st.Data) == len(data) {
		return img, data, nil
	}
	out := *img
	sum := sha256.Sum256(st.Data)
	out.Size, out.Checksum = int64(len(st.Data)), hex.EncodeToString(sum[:])
	return &out, st.Data, nil
}
