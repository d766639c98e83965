package pixpool

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Share kinds: a link to one image, or to a read-only album of every image
// whose key starts with a prefix (a live album: images added under the
// prefix later appear in it, deleted ones vanish).
const (
	ShareImage = "image"
	ShareAlbum = "album"
)

// Share statuses, as Share.Status gives them.
const (
	ShareLive    = "live"
	ShareRevoked = "revoked"
	ShareExpired = "expired"
	ShareUsedUp  = "used_up" // the view limit is reached
)

// MaxShareTitle bounds a share's title, in characters.
const MaxShareTitle = 200

// MaxShareViews bounds a share's view limit.
const MaxShareViews = 1_000_000

// Share is a link that lets people without an account see one image or an
// album of an owner's images. The link itself is not stored: it is signed
// from the row (service.Shares), so the owner can see it again later.
type Share struct {
	ID        int64
	OwnerID   int64
	Kind      string // ShareImage or ShareAlbum
	Key       string // the image's key, or the album's key prefix
	Title     string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	MaxViews  int64     // 0: no limit
	Views     int64
	RevokedAt time.Time // zero: not revoked
}

// Status says whether the link works at now: ShareLive, or why not
// (ShareRevoked before ShareExpired before ShareUsedUp).
func (sh *Share) Status(now time.Time) string {
	switch {
	case !sh.RevokedAt.IsZero():
		return ShareRevoked
	case !sh.ExpiresAt.IsZero() && !now.Before(sh.ExpiresAt):
		return ShareExpired
	case sh.MaxViews > 0 && sh.Views >= sh.MaxViews:
		return ShareUsedUp
	}
	return ShareLive
}

// Covers reports whether the share shows the image under key: the image
// itself, or any key under the album's prefix.
func (sh *Share) Covers(key string) bool {
	if sh.Kind == ShareAlbum {
		return strings.HasPrefix(key, sh.Key)
	}
	return key == sh.Key
}

// Validate checks a new share's fields, with messages its owner can act
// on (EINVALID).
func (sh *Share) Validate() error {
	switch sh.Kind {
	case ShareImage:
		if err := ValidateKey(sh.Key); err != nil {
			return err
		}
	case ShareAlbum:
		if sh.Key == "" {
			return Errorf(EINVALID, "An album needs a key prefix, such as holiday/: it shows the images whose keys start with it.")
		}
		if err := ValidateKey(sh.Key); err != nil {
			return Errorf(EINVALID, "The album's prefix is not a possible key start: %s", ErrorMessage(err))
		}
	default:
		return Errorf(EINVALID, "A share is of kind %q or %q, not %q.", ShareImage, ShareAlbum, sh.Kind)
	}
	switch {
	case !utf8.ValidString(sh.Title) || strings.IndexFunc(sh.Title, isControl) >= 0:
		return Errorf(EINVALID, "The title must be text without control characters.")
	case utf8.RuneCountInString(sh.Title) > MaxShareTitle:
		return Errorf(EINVALID, "The title must be at most %d characters.", MaxShareTitle)
	case sh.MaxViews < 0 || sh.MaxViews > MaxShareViews:
		return Errorf(EINVALID, "The view limit must be between 1 and %d, or none.", MaxShareViews)
	case !sh.ExpiresAt.IsZero() && !sh.ExpiresAt.After(sh.CreatedAt):
		return Errorf(EINVALID, "The link must expire after it is made.")
	}
	return nil
}

// ShareStore keeps share links (part of Store). A share belongs to its
// owner's account and goes with it.
type ShareStore interface {
	// CreateShare stores sh, setting its ID (and CreatedAt, if zero); Views
	// and RevokedAt start as given (normally zero).
	CreateShare(ctx context.Context, sh *Share) error
	// Share returns a share by id, or ENOTFOUND.
	Share(ctx context.Context, id int64) (*Share, error)
	// Shares lists an owner's shares, newest first.
	Shares(ctx context.Context, ownerID int64) ([]*Share, error)
	// RevokeShare marks an owner's share revoked at at, and returns it.
	// Revoking a revoked share keeps its first RevokedAt. Another owner's
	// share is ENOTFOUND, like a missing one.
	RevokeShare(ctx context.Context, ownerID, id int64, at time.Time) (*Share, error)
	// ViewShare counts one view of a share if it is live at now (not
	// revoked, not expired, under its view limit) and its owner's account
	// is not disabled, atomically: of any
	// number of concurrent calls on a share with n views left, exactly n
	// count. It returns the share as the count left it and whether it
	// counted; a share that is not live comes back as it is, uncounted. A
	// missing one is ENOTFOUND.
	ViewShare(ctx context.Context, id int64, now time.Time) (sh *Share, counted bool, err error)
}
