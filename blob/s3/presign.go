package s3

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/pixpool/pixpool"
)

// MaxPresignExpiry is the longest a presigned URL may last (SigV4's
// limit).
const MaxPresignExpiry = 7 * 24 * time.Hour

// PresignGet returns a URL that fetches key's bytes, without other
// credentials, until expiry has passed; the answer carries contentType
// and disposition, those given, as its Content-Type and
// Content-Disposition. It is made locally (signed with the store's keys),
// so it says nothing of whether key exists.
func (s *Store) PresignGet(ctx context.Context, key string, expiry time.Duration, contentType, disposition string) (*url.URL, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	if expiry <= 0 || expiry > MaxPresignExpiry {
		return nil, pixpool.Errorf(pixpool.EINVALID, "A presigned URL lasts from 1 s to 7 days, not %v.", expiry)
	}
	params := url.Values{}
	if contentType != "" {
		params.Set("response-content-type", contentType)
	}
	if disposition != "" {
		params.Set("response-content-disposition", disposition)
	}
	u, err := s.core.PresignedGetObject(ctx, s.bucket, s.object(key), expiry, params)
	if err != nil {
		return nil, fmt.Errorf("s3: presign %q: %w", key, err)
	}
	return u, nil
}
