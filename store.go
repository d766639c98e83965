package pixpool

import (
	"context"
	"time"
)

// Store is the metadata store: accounts, sessions, API keys, image
// metadata, settings, login throttling and the pool's stats history.
// store/sqlite and store/postgres implement it, and store/storetest is the
// conformance suite both pass.
//
// Errors: lookups of a missing row return code ENOTFOUND; a unique
// constraint (username, image key per owner) returns ECONFLICT; updating a
// missing row (UpdateUser, SetPasswordHash, TouchAPIKey) returns ENOTFOUND.
// Times are stored with at least millisecond precision and returned in UTC.
// A limit of 0 means no limit. Image keys compare bytewise (case-sensitive).
type Store interface {
	// CreateUser inserts u with the given password hash and sets u.ID,
	// u.CreatedAt and u.UpdatedAt. A username that differs from an existing
	// one only in case is ECONFLICT.
	CreateUser(ctx context.Context, u *User, passwordHash string) error
	// User returns the user with the given id.
	User(ctx context.Context, id int64) (*User, error)
	// UserByUsername finds a user without regard to case.
	UserByUsername(ctx context.Context, username string) (*User, error)
	// UpdateUser saves every field of u but ID and CreatedAt, and sets
	// u.UpdatedAt. Changing Username to one taken is ECONFLICT.
	UpdateUser(ctx context.Context, u *User) error
	// Users lists users ordered by username, case-insensitively.
	Users(ctx context.Context, offset, limit int) ([]*User, error)
	// CountAdmins counts users with Admin set, disabled or not.
	CountAdmins(ctx context.Context) (int, error)
	// PasswordHash returns the stored hash of a user's password.
	PasswordHash(ctx context.Context, userID int64) (string, error)
	// SetPasswordHash replaces it.
	SetPasswordHash(ctx context.Context, userID int64, hash string) error

	// CreateSession stores s.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with the given token hash, expired or
	// not; callers check ExpiresAt.
	Session(ctx context.Context, tokenHash string) (*Session, error)
	// DeleteSession removes one session; a missing one is not an error.
	DeleteSession(ctx context.Context, tokenHash string) error
	// DeleteUserSessions removes every session of a user except the one
	// whose hash is keep ("" keeps none).
	DeleteUserSessions(ctx context.Context, userID int64, keep string) error
	// DeleteExpiredSessions removes sessions that expired before now and
	// reports how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// CreateAPIKey stores k and sets k.ID and k.CreatedAt.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns the key whose secret hashes to hash.
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// APIKeys lists a user's keys, newest first.
	APIKeys(ctx context.Context, userID int64) ([]*APIKey, error)
	// TouchAPIKey records that a key was used at t.
	TouchAPIKey(ctx context.Context, id int64, t time.Time) error
	// DeleteAPIKey removes a user's key; another user's key is ENOTFOUND.
	DeleteAPIKey(ctx context.Context, userID, id int64) error

	// PutImage inserts img, or replaces the row with the same (OwnerID, Key),
	// in one transaction. A replaced row keeps its ID. It sets img.ID (and
	// CreatedAt, if zero) and returns the replaced row (nil if there was
	// none) so the caller can delete the old bytes.
	PutImage(ctx context.Context, img *Image) (replaced *Image, err error)
	// Image returns an owner's image by key.
	Image(ctx context.Context, ownerID int64, key string) (*Image, error)
	// Images lists images matching f, ordered by owner id then key.
	Images(ctx context.Context, f ImageFilter) ([]*Image, error)
	// CountImages counts images matching f, ignoring After, Offset, Limit.
	CountImages(ctx context.Context, f ImageFilter) (int, error)
	// DeleteImage removes an owner's image and returns the removed row.
	DeleteImage(ctx context.Context, ownerID int64, key string) (*Image, error)
	// DeleteAllImages removes every image row of every owner, reporting how
	// many.
	DeleteAllImages(ctx context.Context) (int, error)
	// ImageBlobKeys calls fn with every BlobKey and non-empty ThumbKey.
	ImageBlobKeys(ctx context.Context, fn func(key string) error) error

	// Setting returns a named setting's value.
	Setting(ctx context.Context, name string) (string, error)
	// SetSetting creates or replaces a setting.
	SetSetting(ctx context.Context, name, value string) error
	// DeleteSetting removes a setting; a missing one is not an error.
	DeleteSetting(ctx context.Context, name string) error
	// Settings returns every setting by name.
	Settings(ctx context.Context) (map[string]string, error)

	// AcquireLease takes or renews the lease name for holder until ttl
	// from now, if nobody holds it, its term has run out, or holder has it
	// already; it reports whether holder has it afterwards. Leases elect
	// one process among those sharing the store for a role (the pool's
	// manager); the term is measured by the store's own clock, so
	// processes on hosts with skewed clocks agree. A ttl of zero or less
	// is EINVALID.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease ends holder's lease on name at once; a lease held by
	// another is left alone.
	ReleaseLease(ctx context.Context, name, holder string) error
	// LeaseHolder returns who holds the lease name, its term run out or
	// not, and "" when nobody does. With ReleaseLease it lets a process
	// that can prove the holder dead (on its own host) end the lease at
	// once, rather than wait out the term.
	LeaseHolder(ctx context.Context, name string) (string, error)

	// RecordLoginFailure notes a failed login at t under each of keys (such
	// as "user:ada" and "ip:192.0.2.1").
	RecordLoginFailure(ctx context.Context, keys []string, t time.Time) error
	// LoginFailures counts the failures noted under key since t.
	LoginFailures(ctx context.Context, key string, since time.Time) (int, error)
	// ClearLoginFailures forgets key's failures (after a good login) and
	// every failure older than before.
	ClearLoginFailures(ctx context.Context, key string, before time.Time) error

	StatsStore
	AnalysisStore
	BackupStore

	// Ping checks that the store answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
