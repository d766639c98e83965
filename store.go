package pixpool

import "context"

// Store is the metadata store: accounts, sessions, API keys, image
// metadata, settings, the admin setup token, invites, login and sign-up
// throttling, the pool's stats history and the files of automatic HTTPS.
// store/sqlite and store/postgres implement it, and store/storetest is the
// conformance suite both pass. It is made of one interface per resource,
// each beside its type (UserStore in user.go, ImageStore in image.go, ...);
// what follows holds for all of them.
//
// Errors: lookups of a missing row return code ENOTFOUND; a unique
// constraint (username, image key per owner) returns ECONFLICT; updating a
// missing row (UpdateUser, SetPasswordHash, TouchAPIKey) returns ENOTFOUND.
// Times are stored with at least millisecond precision and returned in UTC.
// A limit of 0 means no limit. Image keys compare bytewise (case-sensitive).
type Store interface {
	UserStore
	InviteStore
	AttemptStore
	SessionStore
	APIKeyStore
	ImageStore
	TrashStore
	QuotaStore
	VariantStore
	SettingStore
	LeaseStore
	StatsStore
	AnalysisStore
	BackupStore
	CertStore
	ShareStore

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

	// Ping checks that the store answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
