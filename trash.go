package pixpool

import (
	"context"
	"time"
)

// TrashedImage is a deleted image waiting in its owner's trash, to be
// restored or purged. Its Image is the row as it was, except ID, which is
// the trash entry's own id (one key may be in the trash several times).
// Its files stay in the blob store until it is purged.
type TrashedImage struct {
	Image
	DeletedAt time.Time
	// PurgeAt is when the background purge removes it for good.
	PurgeAt time.Time
}

// TrashStore keeps deleted images until they are restored or purged (part
// of Store).
//
// Removing rows and blobs: an owner's identical images share their files
// (PutImage), so every method that removes a row for good (PurgeTrash,
// EmptyTrash, PurgeExpired, and DeleteImage and PutImage's replaced row
// in ImageStore) tells, in Image.FilesShared, whether another row (an
// image or a trash entry) still names its BlobKey: the check and the
// removal are one transaction, so the caller deletes the files only when
// no row needs them any more.
type TrashStore interface {
	// TrashImage moves an owner's image to the trash, in one transaction,
	// to be purged from purgeAt on, and returns the trash entry.
	// ENOTFOUND if there is no such image.
	TrashImage(ctx context.Context, ownerID int64, key string, purgeAt time.Time) (*TrashedImage, error)
	// TrashedImages lists an owner's trash, most recently deleted first.
	TrashedImages(ctx context.Context, ownerID int64, limit, offset int) ([]*TrashedImage, error)
	// TrashedImage returns one trash entry of an owner, or ENOTFOUND.
	TrashedImage(ctx context.Context, ownerID, trashID int64) (*TrashedImage, error)
	// CountTrash counts an owner's trash entries (ownerID 0: everyone's).
	CountTrash(ctx context.Context, ownerID int64) (int, error)
	// RestoreImage moves a trash entry back to the owner's images under
	// key (its own key if key is ""), in one transaction, and returns the
	// image. ENOTFOUND if there is no such entry; ECONFLICT, and the
	// entry stays, if a live image has that key.
	RestoreImage(ctx context.Context, ownerID, trashID int64, key string) (*Image, error)
	// PurgeTrash removes one trash entry for good and returns it, or
	// ENOTFOUND.
	PurgeTrash(ctx context.Context, ownerID, trashID int64) (*TrashedImage, error)
	// EmptyTrash removes every trash entry of an owner for good and
	// returns them.
	EmptyTrash(ctx context.Context, ownerID int64) ([]*TrashedImage, error)
	// PurgeExpired removes up to limit entries (of any owner) whose
	// PurgeAt is not after now, oldest first, and returns them.
	PurgeExpired(ctx context.Context, now time.Time, limit int) ([]*TrashedImage, error)
	// DeleteAllTrash removes every trash entry of every owner, reporting
	// how many (with DeleteAllImages: the admins' "delete all").
	DeleteAllTrash(ctx context.Context) (int, error)
}
