package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// runMigrate copies a deployment from one pair of stores to another: from
// SQLite and a folder to PostgreSQL and S3, typically. Users (with their
// password hashes, profiles, roles and quotas), API keys, images (bytes
// checked against their SHA-256, kept originals with them), share links
// and settings are copied; sessions are not (users log in again), nor the
// stats history, nor the trash (deleted images stay behind), nor the key
// that signs share links (old links stop working; see shares). Rows already in the target are
// left as they are, so it is safe to run again, e.g. after an interruption.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromData := fs.String("from-data", "./pixpool-data", "data folder of the source install")
	fromDB := fs.String("from-db", "", "source metadata store (empty: SQLite in --from-data)")
	fromBlob := fs.String("from-blob", "", "source blob store (empty: the folder in --from-data)")
	toDB := fs.String("to-db", "", "target metadata store, e.g. postgres://user@host/db, the password from PGPASSWORD or ~/.pgpass (required)")
	toBlob := fs.String("to-blob", "", "target blob store, e.g. s3://bucket?endpoint=... (required)")
	accessKey := fs.String("s3-access-key", "", "S3 access key for --to-blob (default: AWS_ACCESS_KEY_ID)")
	secretKey := fs.String("s3-secret-key", "", "S3 secret key for --to-blob (default: AWS_SECRET_ACCESS_KEY; prefer PIXPOOL_S3_SECRET_KEY_FILE to a flag)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pixpool migrate --to-db URL --to-blob URL [--from-data DIR]\n\nCopies users, API keys, images, share links and settings to other stores; safe to run again.\nStop the source server first, so nothing changes while it copies.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *toDB == "" || *toBlob == "" {
		return errors.New("migrate needs --to-db and --to-blob")
	}
	src, err := openDB(ctx, *fromData, *fromDB)
	if err != nil {
		return fmt.Errorf("source store: %w", err)
	}
	defer src.Close()
	srcBlobs, err := openBlobs(ctx, *fromData, *fromBlob, s3Keys{})
	if err != nil {
		return fmt.Errorf("source blobs: %w", err)
	}
	dst, err := openDB(ctx, "", *toDB)
	if err != nil {
		return fmt.Errorf("target store: %w", err)
	}
	defer dst.Close()
	dstBlobs, err := openBlobs(ctx, "", *toBlob, s3Keys{*accessKey, *secretKey})
	if err != nil {
		return fmt.Errorf("target blobs: %w", err)
	}
	mg := &migration{src: src, dst: dst, srcBlobs: srcBlobs, dstBlobs: dstBlobs, out: stdout}
	if err := mg.run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d users (%d new), %d API keys (%d new), %d images (%d copied, %d MB), %d share links (%d new), %d settings; verified\n",
		mg.users, mg.newUsers, mg.keys, mg.newKeys, mg.images, mg.newImages, mg.bytes>>20, mg.sharesSeen, mg.newShares, mg.settings)
	return nil
}

// migration copies one store pair into another.
type migration struct {
	src, dst           pixpool.Store
	srcBlobs, dstBlobs pixpool.BlobStore
	out                io.Writer

	users, newUsers, keys, newKeys, images, newImages, settings int
	sharesSeen, newShares                                       int
	bytes                                                       int64
}

func (mg *migration) run(ctx context.Context) error {
	for off := 0; ; off += 200 {
		users, err := mg.src.Users(ctx, off, 200)
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := mg.user(ctx, u); err != nil {
				return fmt.Errorf("user %s: %w", u.Username, err)
			}
		}
		if len(users) < 200 {
			break
		}
	}
	settings, err := mg.src.Settings(ctx)
	if err != nil {
		return err
	}
	for name, value := range settings {
		switch name {
		case "pool.request", "pool.result", "setup_token_sha256":
			continue // about the source server's life, not the deployment's
		case service.ShareKeySetting:
			// Share links are signed over their ids, which the target
			// gives anew: with the old key, an old link could open
			// another share. A new key ends the old links (as a restore
			// does); owners find the new ones on their Shares page.
			continue
		}
		if _, err := mg.dst.Setting(ctx, name); err == nil {
			continue
		}
		if err := mg.dst.SetSetting(ctx, name, value); err != nil {
			return err
		}
		mg.settings++
	}
	return nil
}

// user copies one account, its API keys and its images.
func (mg *migration) user(ctx context.Context, u *pixpool.User) error {
	mg.users++
	hash, err := mg.src.PasswordHash(ctx, u.ID)
	if err != nil {
		return err
	}
	to, err := mg.dst.UserByUsername(ctx, u.Username)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		c := *u
		c.ID = 0
		if err := mg.dst.CreateUser(ctx, &c, hash); err != nil {
			return err
		}
		to, mg.newUsers = &c, mg.newUsers+1
		// The admin's quotas for the user come along (UpdateUser and
		// CreateUser leave them).
		if u.QuotaBytes != nil || u.QuotaImages != nil {
			if err := mg.dst.SetUserQuota(ctx, c.ID, u.QuotaBytes, u.QuotaImages); err != nil {
				return err
			}
		}
	} else if err != nil {
		return err
	}

	keys, err := mg.src.APIKeys(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		mg.keys++
		if _, err := mg.dst.APIKeyByHash(ctx, k.Hash); err == nil {
			continue
		}
		c := *k
		c.ID, c.UserID = 0, to.ID
		if err := mg.dst.CreateAPIKey(ctx, &c); err != nil {
			return err
		}
		if !k.LastUsedAt.IsZero() {
			mg.dst.TouchAPIKey(ctx, c.ID, k.LastUsedAt)
		}
		mg.newKeys++
	}

	after := ""
	for {
		imgs, err := mg.src.Images(ctx, pixpool.ImageFilter{OwnerID: u.ID, After: after, Limit: 200})
		if err != nil {
			return err
		}
		for _, img := range imgs {
			if err := mg.image(ctx, img, to.ID); err != nil {
				return fmt.Errorf("image %q: %w", img.Key, err)
			}
			after = img.Key
		}
		if len(imgs) < 200 {
			break
		}
	}
	if err := mg.shares(ctx, u.ID, to.ID); err != nil {
		return fmt.Errorf("share links: %w", err)
	}
	n, err := mg.dst.CountImages(ctx, pixpool.ImageFilter{OwnerID: to.ID})
	if err != nil {
		return err
	}
	if want, _ := mg.src.CountImages(ctx, pixpool.ImageFilter{OwnerID: u.ID}); n < want {
		return fmt.Errorf("the target holds %d images, the source %d", n, want)
	}
	return nil
}

// image copies one image's bytes, checked against its checksum, then its
// row; an image the target already has with the same bytes is skipped.
func (mg *migration) image(ctx context.Context, img *pixpool.Image, owner int64) error {
	mg.images++
	if cur, err := mg.dst.Image(ctx, owner, img.Key); err == nil && cur.Checksum == img.Checksum {
		return nil
	}
	data, err := readBlob(ctx, mg.srcBlobs, img.BlobKey)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != img.Checksum {
		return fmt.Errorf("bytes in the source do not match their checksum; not copied")
	}
	if err := mg.dstBlobs.Put(ctx, img.BlobKey, bytes.NewReader(data)); err != nil {
		return err
	}
	if img.OriginalKey != "" {
		orig, err := readBlob(ctx, mg.srcBlobs, img.OriginalKey)
		if err != nil {
			return fmt.Errorf("kept original: %w", err)
		}
		if err := mg.dstBlobs.Put(ctx, img.OriginalKey, bytes.NewReader(orig)); err != nil {
			return err
		}
	}
	if img.ThumbKey != "" {
		if thumb, err := readBlob(ctx, mg.srcBlobs, img.ThumbKey); err == nil {
			if err := mg.dstBlobs.Put(ctx, img.ThumbKey, bytes.NewReader(thumb)); err != nil {
				return err
			}
		} // a missing thumbnail is made again on demand
	}
	// Read back what the target stored before the row points at it.
	back, err := readBlob(ctx, mg.dstBlobs, img.BlobKey)
	if err != nil {
		return err
	}
	if !bytes.Equal(back, data) {
		return fmt.Errorf("the target returned other bytes than were written")
	}
	c := *img
	c.ID, c.OwnerID = 0, owner
	if _, err := mg.dst.PutImage(ctx, &c); err != nil {
		return err
	}
	mg.newImages++
	mg.bytes += int64(len(data))
	return nil
}

// shares copies an owner's share links, with their views, expiry and
// revocation; one the target already has (same kind, key and creation
// time) is skipped.
func (mg *migration) shares(ctx context.Context, from, to int64) error {
	src, err := mg.src.Shares(ctx, from)
	if err != nil {
		return err
	}
	have, err := mg.dst.Shares(ctx, to)
	if err != nil {
		return err
	}
	for _, sh := range src {
		mg.sharesSeen++
		if slices.ContainsFunc(have, func(d *pixpool.Share) bool {
			return d.Kind == sh.Kind && d.Key == sh.Key && d.CreatedAt.Equal(sh.CreatedAt)
		}) {
			continue
		}
		c := *sh
		c.ID, c.OwnerID = 0, to
		if err := mg.dst.CreateShare(ctx, &c); err != nil {
			return err
		}
		mg.newShares++
	}
	return nil
}

func readBlob(ctx context.Context, bs pixpool.BlobStore, key string) ([]byte, error) {
	rc, err := bs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
