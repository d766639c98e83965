package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixpool/pixpool"
)

// Share links. A link is /s/<token>, where the token is
//
//	base64url(id ‖ created_at) "." base64url(HMAC-SHA256(key, "share\x00" id "\x00" created_at)[:16])
//
// with id and created_at (Unix milliseconds) as 8 bytes each, big-endian,
// and key a per-deployment secret kept in the store (ShareKeySetting). The
// token carries all its MAC covers, so a forged or mistyped one is refused
// before any database work; created_at ties it to one row even if an id
// were ever given again. Nothing of the token is stored: the owner's list
// derives each link again from its row.
//
// Views. Opening a link without a visit ticket counts one view (one
// atomic UPDATE that checks the share is live and under its limit) and
// starts a visit: the page hands the images, thumbnails and further pages
// it links a ticket (?v=) that lets them load for VisitTTL without
// counting again, while the share is neither revoked nor expired, even if
// that view reached the limit. A request without a valid ticket (the raw
// link opened directly, an old ticket) counts as a view like a page. So a
// limit of n means n visits: with 1, one person sees the image once, and
// the next to open the link, or to reload it, is told the limit is reached.

// ShareKeySetting names the stored secret that signs share links. It is
// made on first use. No backup holds it and a restore removes it, so a new
// one is made after a restore: every link handed out before stops working,
// within shareKeyTTL on every process (a restore must never bring back a
// link its owner had revoked since);
// owners find the links of their restored shares, signed anew, on their
// Shared links page.
const ShareKeySetting = "share.key"

// VisitTTL is how long a counted view's ticket lets its page's images,
// thumbnails and album pages load without counting again.
const VisitTTL = time.Hour

// Share key caching: the key is read from the store at most every
// shareKeyTTL to check tokens, and again after shareKeyRecheck for a token
// that fails with the cached one (a key made on another replica, or anew
// after a restore), so that bad tokens cost no database work but one read
// every few seconds at most.
const (
	shareKeyTTL     = time.Minute
	shareKeyRecheck = 5 * time.Second
)

// Shares makes, lists and revokes share links for their owners, and opens
// them for visitors.
type Shares struct {
	// Store keeps the shares and the signing key (ShareKeySetting).
	Store pixpool.Store
	// Images checks that a shared image exists.
	Images *Images
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	mu      sync.Mutex // guards key, keyRead
	key     []byte     // nil: no key in the store when last read
	keyRead time.Time  // when key was read; zero: never
}

func (s *Shares) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Shares) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// signingKey returns the key, read from the store if the cached one is
// older than maxAge (0: always), made and stored first if there is none
// and create is set (nil if there is none and create is not). Two
// replicas making one at once both use the one stored first (AddSetting):
// had the second replaced it, the links the first signed with its own
// would stop working.
func (s *Shares) signingKey(ctx context.Context, maxAge time.Duration, create bool) ([]byte, error) {
	now := time.Now()
	s.mu.Lock()
	key, read := s.key, s.keyRead
	s.mu.Unlock()
	if maxAge > 0 && !read.IsZero() && now.Sub(read) < maxAge && (key != nil || !create) {
		return key, nil
	}
	v, err := s.Store.Setting(ctx, ShareKeySetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		if !create {
			v, err = "", nil
		} else {
			v, err = s.Store.AddSetting(ctx, ShareKeySetting, randomToken(32))
		}
	}
	if err != nil {
		return nil, err
	}
	key = nil
	if v != "" {
		key = []byte(v)
	}
	s.mu.Lock()
	s.key, s.keyRead = key, now
	s.mu.Unlock()
	return key, nil
}

// tokenMAC signs a share's id and creation time.
func tokenMAC(key []byte, id, createdMs int64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("share\x00" + strconv.FormatInt(id, 10) + "\x00" + strconv.FormatInt(createdMs, 10)))
	return m.Sum(nil)[:16]
}

// visitMAC signs a visit ticket of a share, valid until expires (Unix
// seconds).
func visitMAC(key []byte, id, createdMs, expires int64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("share visit\x00" + strconv.FormatInt(id, 10) + "\x00" + strconv.FormatInt(createdMs, 10) + "\x00" + strconv.FormatInt(expires, 10)))
	return m.Sum(nil)[:16]
}

var b64 = base64.RawURLEncoding

// signToken returns the token of sh under key.
func signToken(key []byte, sh *pixpool.Share) string {
	var head [16]byte
	created := sh.CreatedAt.UnixMilli()
	binary.BigEndian.PutUint64(head[:8], uint64(sh.ID))
	binary.BigEndian.PutUint64(head[8:], uint64(created))
	return b64.EncodeToString(head[:]) + "." + b64.EncodeToString(tokenMAC(key, sh.ID, created))
}

// tokenLen is the length of every token: 22 + 1 + 22.
const tokenLen = 45

// parseToken reads a token's id, creation time and MAC, without checking
// the MAC; ok is false for anything not shaped like a token.
func parseToken(token string) (id, createdMs int64, mac []byte, ok bool) {
	if len(token) != tokenLen || token[22] != '.' {
		return 0, 0, nil, false
	}
	head, err1 := b64.DecodeString(token[:22])
	mac, err2 := b64.DecodeString(token[23:])
	if err1 != nil || err2 != nil || len(head) != 16 || len(mac) != 16 {
		return 0, 0, nil, false
	}
	id, createdMs = int64(binary.BigEndian.Uint64(head[:8])), int64(binary.BigEndian.Uint64(head[8:]))
	return id, createdMs, mac, id > 0
}

// TokenID returns the part of a token that names its share without the
// signature, for logs; "" if token is not shaped like one.
func TokenID(token string) string {
	if _, _, _, ok := parseToken(token); !ok {
		return ""
	}
	return token[:22]
}

// errNoShare answers every token that is not a real link's, whatever is
// wrong with it.
var errNoShare = pixpool.Errorf(pixpool.ENOTFOUND, "This link does not exist. Check that it was copied whole.")

// ShareGoneError says that a link exists but no longer works, and why
// (Status: pixpool.ShareRevoked, ShareExpired, ShareUsedUp, ShareDeleted
// or ShareUnavailable).
type ShareGoneError struct {
	Status string
}

func (e *ShareGoneError) Error() string { return "share link gone: " + e.Status }

// ShareGoneError's Status for an image share whose image was deleted,
// and for a link of a disabled account.
const (
	ShareDeleted     = "deleted"
	ShareUnavailable = "unavailable"
)

// Token returns the link token of sh, making the signing key if there is
// none yet.
func (s *Shares) Token(ctx context.Context, sh *pixpool.Share) (string, error) {
	key, err := s.signingKey(ctx, 0, true)
	if err != nil {
		return "", err
	}
	return signToken(key, sh), nil
}

// Tokens returns the link token of each share, reading the key once.
func (s *Shares) Tokens(ctx context.Context, shares []*pixpool.Share) ([]string, error) {
	key, err := s.signingKey(ctx, 0, true)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(shares))
	for i, sh := range shares {
		out[i] = signToken(key, sh)
	}
	return out, nil
}

// ShareExpiries are the expiry choices the web UI offers; 0 is never.
var ShareExpiries = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 0}

// MaxShareLifetime bounds how far ahead a link may expire (ten years).
const MaxShareLifetime = 10 * 365 * 24 * time.Hour

// Create makes a share link of ownerID's: sh's Kind, Key, Title, ExpiresAt
// (zero: never) and MaxViews (0: no limit) say what and how. An image
// share needs the image to exist now (ENOTFOUND if not); an album of a
// prefix may be empty. A missing title becomes the key's last segment, or
// the prefix.
func (s *Shares) Create(ctx context.Context, ownerID int64, sh *pixpool.Share) (*pixpool.Share, error) {
	now := s.now().Truncate(time.Millisecond)
	n := &pixpool.Share{OwnerID: ownerID, Kind: sh.Kind, Key: sh.Key, Title: strings.TrimSpace(sh.Title),
		CreatedAt: now, ExpiresAt: sh.ExpiresAt, MaxViews: sh.MaxViews}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if !n.ExpiresAt.IsZero() && n.ExpiresAt.Sub(now) > MaxShareLifetime {
		return nil, pixpool.Errorf(pixpool.EINVALID, "A link may expire at most ten years ahead; choose no expiry instead.")
	}
	if n.Kind == pixpool.ShareImage {
		if _, err := s.Images.Info(ctx, ownerID, n.Key); err != nil {
			if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
				return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No image with key “%s” to share.", n.Key)
			}
			return nil, err
		}
	}
	if n.Title == "" {
		n.Title = n.Key
		if n.Kind == pixpool.ShareImage {
			n.Title = n.Key[strings.LastIndexByte(n.Key, '/')+1:]
		}
		if n.Title == "" {
			n.Title = n.Key
		}
	}
	if err := s.Store.CreateShare(ctx, n); err != nil {
		return nil, err
	}
	s.logger().Info("share link made", "owner", ownerID, "share", n.ID, "kind", n.Kind, "key", n.Key)
	return n, nil
}

// List returns ownerID's shares, newest first.
func (s *Shares) List(ctx context.Context, ownerID int64) ([]*pixpool.Share, error) {
	return s.Store.Shares(ctx, ownerID)
}

// Get returns ownerID's share id; another owner's is ENOTFOUND.
func (s *Shares) Get(ctx context.Context, ownerID, id int64) (*pixpool.Share, error) {
	sh, err := s.Store.Share(ctx, id)
	if err != nil {
		return nil, err
	}
	if sh.OwnerID != ownerID {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No share link %d.", id)
	}
	return sh, nil
}

// Revoke ends ownerID's share id for good; the row stays, to be listed as
// revoked. Revoking it again changes nothing.
func (s *Shares) Revoke(ctx context.Context, ownerID, id int64) (*pixpool.Share, error) {
	sh, err := s.Store.RevokeShare(ctx, ownerID, id, s.now())
	if err != nil {
		return nil, err
	}
	s.logger().Info("share link revoked", "owner", ownerID, "share", id)
	return sh, nil
}

// Visit is an opened share link.
type Visit struct {
	Share *pixpool.Share
	// Ticket lets the pages, images and thumbnails of this visit load
	// without counting another view, until VisitTTL after the view.
	Ticket string
	// Counted says this request counted a view.
	Counted bool
}

// Open checks a link's token and opens it at now. With a valid ticket
// (from a page of a visit under way) nothing is counted and the share
// must only be neither revoked nor expired; otherwise, if count is set, a
// view is counted (and must be allowed by the limit) and a new ticket
// made; if count is not set (a HEAD request), the share must be live.
//
// A token that is not a real link's is ENOTFOUND, decided before any
// database work when it is malformed or its signature is wrong. A real
// link that no longer works is a *ShareGoneError saying why.
func (s *Shares) Open(ctx context.Context, token, ticket string, count bool) (*Visit, error) {
	id, created, mac, ok := parseToken(token)
	if !ok {
		return nil, errNoShare
	}
	key, err := s.signingKey(ctx, shareKeyTTL, false)
	if err != nil {
		return nil, err
	}
	if key == nil || !hmac.Equal(mac, tokenMAC(key, id, created)) {
		// Perhaps a key this process has not seen yet (made elsewhere,
		// or anew after a restore).
		if key, err = s.signingKey(ctx, shareKeyRecheck, false); err != nil {
			return nil, err
		}
		if key == nil || !hmac.Equal(mac, tokenMAC(key, id, created)) {
			return nil, errNoShare
		}
	}
	now := s.now()
	v := &Visit{}
	switch {
	case s.validTicket(key, id, created, ticket, now):
		v.Share, err = s.Store.Share(ctx, id)
		v.Ticket = ticket
	case count:
		v.Share, v.Counted, err = s.Store.ViewShare(ctx, id, now)
	default:
		v.Share, err = s.Store.Share(ctx, id)
	}
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, errNoShare // the row went with its owner's account
	} else if err != nil {
		return nil, err
	}
	if v.Share.CreatedAt.UnixMilli() != created {
		return nil, errNoShare // another row that got the same id
	}
	st := v.Share.Status(now)
	if (v.Ticket != "" || v.Counted) && st == pixpool.ShareUsedUp {
		st = pixpool.ShareLive // the visit's own view may have reached the limit
	}
	if st != pixpool.ShareLive {
		return nil, &ShareGoneError{Status: st}
	}
	// A disabled account's links stop working with it, and work again if
	// it is enabled. ViewShare counts no view for one.
	if !v.Counted {
		owner, err := s.Store.User(ctx, v.Share.OwnerID)
		if err != nil {
			return nil, err
		}
		if owner.Disabled {
			return nil, &ShareGoneError{Status: ShareUnavailable}
		}
		if count && v.Ticket == "" {
			// Not counted, yet live and its owner enabled when read
			// just after: the account was enabled in between. Refuse
			// this once rather than serve a view not counted.
			return nil, &ShareGoneError{Status: pixpool.ShareUsedUp}
		}
	}
	if v.Counted {
		exp := now.Add(VisitTTL).Unix()
		v.Ticket = strconv.FormatInt(exp, 10) + "." + b64.EncodeToString(visitMAC(key, id, created, exp))
	}
	return v, nil
}

// validTicket reports whether ticket is a visit ticket of share id that
// has not expired at now.
func (s *Shares) validTicket(key []byte, id, created int64, ticket string, now time.Time) bool {
	exp, mac, ok := strings.Cut(ticket, ".")
	if !ok || len(ticket) > 64 {
		return false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= e {
		return false
	}
	m, err := b64.DecodeString(mac)
	return err == nil && hmac.Equal(m, visitMAC(key, id, created, e))
}

// Key returns the image key a request of the visit asks for: an image
// share's own key (key must be it or ""), or a key in the album, which
// must start with its prefix. Anything else is ENOTFOUND, like a missing
// image, so that nothing outside the share can be probed.
func (v *Visit) Key(key string) (string, error) {
	sh := v.Share
	if sh.Kind == pixpool.ShareImage && key == "" {
		return sh.Key, nil
	}
	if pixpool.ValidateKey(key) != nil || !sh.Covers(key) {
		return "", pixpool.Errorf(pixpool.ENOTFOUND, "No such image in this share.")
	}
	return key, nil
}

// Album returns a page of the album's images in key order, after the
// cursor after (a key), at most limit.
func (s *Shares) Album(ctx context.Context, v *Visit, after string, limit int) ([]*pixpool.Image, error) {
	if v.Share.Kind != pixpool.ShareAlbum {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "This link is not to an album.")
	}
	return s.Images.List(ctx, v.Share.OwnerID, v.Share.Key, after, limit)
}
