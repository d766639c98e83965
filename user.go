package pixpool

import (
	"context"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// User is an account. Username is unique without regard to case and is
// kept as the user typed it.
type User struct {
	ID        int64
	Username  string
	FirstName string
	LastName  string
	Email     string
	Birthday  time.Time // a date; the time of day is zero, in UTC
	Phone     string
	Admin     bool
	Disabled  bool // a disabled user's sessions and API keys stop working
	CreatedAt time.Time
	UpdatedAt time.Time
	// QuotaBytes and QuotaImages are the user's own quotas (0: no limit),
	// or nil for the storage policy's default. Only admins set them,
	// through QuotaStore.SetUserQuota: UpdateUser leaves them.
	QuotaBytes  *int64
	QuotaImages *int64
}

// UserStore keeps accounts and their passwords, and the one-time token
// that creates the first admin (part of Store; its errors are Store's).
type UserStore interface {
	// CreateUser inserts u with the given password hash and sets u.ID,
	// u.CreatedAt and u.UpdatedAt. A username that differs from an existing
	// one only in case is ECONFLICT.
	CreateUser(ctx context.Context, u *User, passwordHash string) error
	// User returns the user with the given id.
	User(ctx context.Context, id int64) (*User, error)
	// UserByUsername finds a user without regard to case.
	UserByUsername(ctx context.Context, username string) (*User, error)
	// UpdateUser saves every field of u but ID, CreatedAt and the quotas
	// (QuotaStore.SetUserQuota), and sets u.UpdatedAt. Changing Username
	// to one taken is ECONFLICT.
	UpdateUser(ctx context.Context, u *User) error
	// Users lists users ordered by username, case-insensitively.
	Users(ctx context.Context, offset, limit int) ([]*User, error)
	// CountAdmins counts users with Admin set, disabled or not.
	CountAdmins(ctx context.Context) (int, error)
	// PasswordHash returns the stored hash of a user's password.
	PasswordHash(ctx context.Context, userID int64) (string, error)
	// SetPasswordHash replaces it.
	SetPasswordHash(ctx context.Context, userID int64, hash string) error
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
}

// Profile limits.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256 // bounds the hashing work one request can ask for
	MaxNameLen     = 100
	MaxEmailLen    = 254
)

var (
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$`)
	phoneRE    = regexp.MustCompile(`^\+?[0-9 ().-]+$`)
)

// ValidateUsername reports whether name can be a username: 3 to 32
// characters of letters, digits, '_', '.' and '-', starting with a letter or
// digit.
func ValidateUsername(name string) error {
	if name == "" {
		return Errorf(EINVALID, "Username is required.")
	}
	if !usernameRE.MatchString(name) {
		return Errorf(EINVALID, "Username must be 3 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit.")
	}
	return nil
}

// ValidatePassword reports whether password is acceptable for username.
func ValidatePassword(password, username string) error {
	switch {
	case password == "":
		return Errorf(EINVALID, "Password is required.")
	case len(password) < MinPasswordLen:
		return Errorf(EINVALID, "Password must be at least %d characters.", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return Errorf(EINVALID, "Password must be at most %d bytes.", MaxPasswordLen)
	case !utf8.ValidString(password):
		return Errorf(EINVALID, "Password must be valid UTF-8 text.")
	case username != "" && strings.EqualFold(password, username):
		return Errorf(EINVALID, "Password must not be your username.")
	}
	return nil
}

// Validate checks every profile field and returns the first problem as an
// EINVALID error whose message names the field. now bounds the birthday.
func (u *User) Validate(now time.Time) error {
	if err := ValidateUsername(u.Username); err != nil {
		return err
	}
	if err := validateName("First name", u.FirstName); err != nil {
		return err
	}
	if err := validateName("Last name", u.LastName); err != nil {
		return err
	}
	if err := ValidateEmail(u.Email); err != nil {
		return err
	}
	if err := ValidateBirthday(u.Birthday, now); err != nil {
		return err
	}
	return ValidatePhone(u.Phone)
}

func validateName(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return Errorf(EINVALID, "%s is required.", field)
	case !utf8.ValidString(s):
		return Errorf(EINVALID, "%s must be valid UTF-8 text.", field)
	case utf8.RuneCountInString(s) > MaxNameLen:
		return Errorf(EINVALID, "%s must be at most %d characters.", field, MaxNameLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return Errorf(EINVALID, "%s must not contain control characters.", field)
	}
	return nil
}

// ValidateEmail accepts a bare address such as "ada@example.org".
func ValidateEmail(s string) error {
	if s == "" {
		return Errorf(EINVALID, "Email is required.")
	}
	if len(s) > MaxEmailLen {
		return Errorf(EINVALID, "Email must be at most %d characters.", MaxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return Errorf(EINVALID, "Email must be an address like name@example.org.")
	}
	at := strings.LastIndexByte(s, '@')
	if domain := s[at+1:]; !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return Errorf(EINVALID, "Email must be an address like name@example.org.")
	}
	return nil
}

// ValidateBirthday accepts a date between 1900-01-01 and now.
func ValidateBirthday(d, now time.Time) error {
	switch {
	case d.IsZero():
		return Errorf(EINVALID, "Birthday is required.")
	case d.Year() < 1900:
		return Errorf(EINVALID, "Birthday must be in 1900 or later.")
	case d.After(now):
		return Errorf(EINVALID, "Birthday must not be in the future.")
	}
	return nil
}

// ParseBirthday parses a date written as YYYY-MM-DD.
func ParseBirthday(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, Errorf(EINVALID, "Birthday is required.")
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "Birthday must be a date written as YYYY-MM-DD.")
	}
	return d, nil
}

// ValidatePhone accepts 7 to 15 digits, optionally with a leading '+' and
// spaces, dots, dashes and parentheses between them.
func ValidatePhone(s string) error {
	if s == "" {
		return Errorf(EINVALID, "Phone is required.")
	}
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if len(s) > 32 || !phoneRE.MatchString(s) || digits < 7 || digits > 15 {
		return Errorf(EINVALID, "Phone must be 7 to 15 digits, optionally with a leading + and spaces or dashes.")
	}
	return nil
}

// Session is a logged-in browser. The cookie holds a random token; the
// store keeps only its SHA-256 (TokenHash), so a database leak does not
// leak sessions.
type Session struct {
	TokenHash string
	UserID    int64
	CSRFToken string // sent back in every state-changing form
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionStore keeps logged-in browsers' sessions (part of Store).
type SessionStore interface {
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
}

// APIKey is a personal key for /api/v1, sent as "Authorization: Bearer".
// The secret is shown once at creation; the store keeps its SHA-256.
type APIKey struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string // the first characters of the secret, to tell keys apart
	Hash       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used
}

// APIKeyStore keeps users' API keys (part of Store).
type APIKeyStore interface {
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
}

// Invite lets one person sign up while sign-up is invite-only. The code is
// shown once at creation; the store keeps its SHA-256 (Hash).
type Invite struct {
	ID        int64
	Hash      string
	Prefix    string // the first characters of the code, to tell invites apart
	CreatedBy int64  // the admin who made it
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	UsedBy    int64     // the account it made; 0 while unused
}

// InviteStore keeps the invites of invite-only sign-up (part of Store).
type InviteStore interface {
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
}

// Sign-up modes: who may create an account on the sign-up page.
const (
	SignupOpen   = "open"   // anyone
	SignupInvite = "invite" // only with an unused invite code
	SignupClosed = "closed" // nobody; admins create accounts with the command line
)

// ValidSignupMode reports whether m is one of the sign-up modes.
func ValidSignupMode(m string) bool {
	return m == SignupOpen || m == SignupInvite || m == SignupClosed
}

// AttemptLimit paces attempts under one key (Store.TakeAttempt): the
// first Free-1 attempts need no wait; the Free-th and each later one make
// the next wait Delay, doubling with each further attempt up to MaxDelay.
// After Forget without an attempt the count starts over.
type AttemptLimit struct {
	Free     int
	Delay    time.Duration
	MaxDelay time.Duration
	Forget   time.Duration
}

// AttemptStore paces logins and sign-ups (part of Store).
type AttemptStore interface {
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
}

// Wait is how long the n-th attempt under a limit makes the next one wait,
// in whole milliseconds. The stores compute the same in SQL; this is its
// reference. Delay and MaxDelay are taken as at most a day.
func (l AttemptLimit) Wait(n int) time.Duration {
	if n < l.Free {
		return 0
	}
	delay, most := l.Millis()
	return time.Duration(min(delay<<min(n-l.Free, 30), most)) * time.Millisecond
}

// Millis returns Delay and MaxDelay as the stores use them: whole
// milliseconds, at most a day each, so that Delay doubled 30 times still
// fits in 64 bits.
func (l AttemptLimit) Millis() (delay, most int64) {
	const day = 24 * 60 * 60 * 1000
	return min(max(l.Delay.Milliseconds(), 0), day), min(max(l.MaxDelay.Milliseconds(), 0), day)
}
