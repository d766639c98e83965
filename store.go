package pixpool

import (
	"context"
	"time"
)

// Store is the metadata store: accounts, sessions, API keys, image
// metadata, settings, the admin setup token, invites, login and sign-up
// throttling and the pool's stats history.
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
	// AuthGeneration returns a counter that the store bumps in the same
	// transaction as every change that can end a session's or an API
	// key's authority, by any path: a session deleted or changed, an API
	// key deleted, an account updated (password, admin rights, disabling)
	// or removed, a restore. Processes sharing the store poll it to drop
	// the sessions and API keys they cache (service.Accounts). It is not
	// part of backups; its value means nothing but its changes.
	AuthGeneration(ctx context.Context) (int64, error)
	// AuthChanges counts the calls to this Store value that may have
	// bumped AuthGeneration (UpdateUser, SetPasswordHash, DeleteSession,
	// DeleteUserSessions, DeleteExpiredSessions, DeleteAPIKey, a restore),
	// each counted once it has returned: the process's own changes, known
	// at once without asking the database.
	AuthChanges() uint64

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

	// SetSetupToken stores the SHA-256 (hex) of the one-time admin setup
	// token, valid until expires, replacing any earlier one, if no admin
	// exists; it reports whether it stored it. The store deletes the token
	// in the same transaction as any change that leaves an admin in the
	// users table (a new admin, a promotion, a restore), whatever made it.
	// The token is never part of a backup.
	SetSetupToken(ctx context.Context, hash string, expires time.Time) (bool, error)
	// SetupPending reports whether a setup token waits, unexpired at now,
	// while no admin exists.
	SetupPending(ctx context.Context, now time.Time) (bool, error)
	// CreateFirstAdmin creates u, an admin, with passwordHash, in one
	// transaction that first checks that a setup token hashing to
	// tokenHash is unexpired at now and that no admin exists, and deletes
	// the token. A missing, wrong or expired token, or an existing admin,
	// is ENOTFOUND; an account with u's username already there is
	// ECONFLICT (it is never changed).
	CreateFirstAdmin(ctx context.Context, u *User, passwordHash, tokenHash string, now time.Time) error

	// TakeAttempt reserves one attempt (a login, a sign-up) under key at
	// now, in one statement, so concurrent callers cannot all pass one
	// check: if key's wait is over, it counts the attempt, sets the next
	// wait as lim says and returns 0; otherwise it counts nothing and
	// returns how long is left to wait (more than 0).
	TakeAttempt(ctx context.Context, key string, now time.Time, lim AttemptLimit) (wait time.Duration, err error)
	// ReturnAttempt takes back one attempt counted under key (the waits
	// already set stay); a missing key is not an error.
	ReturnAttempt(ctx context.Context, key string) error
	// ClearAttempts forgets key's attempts ("" none) and those of every
	// key without an attempt since before.
	ClearAttempts(ctx context.Context, key string, before time.Time) error

	// CreateInvite stores inv and sets inv.ID.
	CreateInvite(ctx context.Context, inv *Invite) error
	// Invites lists every invite, newest first.
	Invites(ctx context.Context) ([]*Invite, error)
	// DeleteInvite removes an invite; a missing one is ENOTFOUND.
	DeleteInvite(ctx context.Context, id int64) error
	// CreateUserWithInvite creates u like CreateUser, in one transaction
	// that uses up the invite whose code hashes to inviteHash: it must be
	// unused and unexpired at now, else EINVALID; a taken username is
	// ECONFLICT and leaves the invite unused.
	CreateUserWithInvite(ctx context.Context, u *User, passwordHash, inviteHash string, now time.Time) error

	StatsStore
	AnalysisStore
	BackupStore

	// Ping checks that the store answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
