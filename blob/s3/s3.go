// Package s3 is a pixpool.BlobStore on any S3-compatible object store:
// Amazon S3, MinIO, versitygw, Ceph RGW, Garage, Cloudflare R2 and the like.
// Import it as blobs3.
//
// Key "img/ab/cdef.jpg" is the object Prefix+"img/ab/cdef.jpg" in Bucket.
//
// # Atomic puts
//
// S3 makes a single PUT and a completed multipart upload atomic: a reader
// sees the old object or all of the new one. Put reads the value into a
// buffer of at most PartSize bytes, growing with the value, so a small image
// costs little memory. A value that ends within the buffer goes up in one PUT;
// a longer one in a multipart upload of PartSize parts, one part in memory at
// a time, completed only after the reader's EOF. If the reader or the context
// fails first, Put aborts the upload (on a context of its own, so that a
// cancelled caller still cleans up) and nothing is stored: the old value
// stays. A cancellation that arrives after the last request has gone out may
// come too late to stop it; Put then reports it, although the value may have
// been stored. An abort that itself fails leaves invisible parts behind, which
// a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes.
//
// Get streams the object's body straight from the response.
//
// # Timeouts and retries
//
// Connecting (dial and TLS handshake) gives up after 5 seconds and waiting
// for a response's headers after Config.Timeout, so an unreachable or hung
// store fails, not hangs. A failed request is tried at most three times in
// all. Reading or writing a body has no deadline of its own: the caller's
// context bounds it.
//
// # Keys and folders
//
// Keys follow the same rule as blob/fs (pixpool.ValidateBlobKey), which every backend
// enforces so that blobs move freely between them. Unlike blob/fs, S3 has no
// folders, so "a" and "a/b" can both be keys, but stores on a file system
// (versitygw's posix backend) refuse that; Put then fails with ECONFLICT, as
// in blob/fs. pixpool's key schemes never need it.
//
// # The client
//
// It uses github.com/minio/minio-go/v7, not aws-sdk-go-v2:
//
//   - Weight: one module and a dozen small ones under it (compression,
//     checksums, CPU feature detection, an INI parser). aws-sdk-go-v2
//     needs service/s3, config, credentials and the upload manager, each a
//     module, plus smithy-go and a dozen internal modules (STS, SSO, IMDS,
//     checksum, endpoints, eventstream) even when none is used.
//   - S3-compatible stores first: it picks path-style addressing for
//     endpoints other than the big clouds by itself, and it is made by a
//     vendor of an S3-compatible server, for such servers. aws-sdk-go-v2 sends
//     new default checksums (aws-chunked trailers, since early 2025) that
//     several S3-compatible servers refuse unless told not to.
//   - Streaming and multipart: both offer the low-level calls (create, upload
//     part, complete, abort) that Put drives itself. minio-go's own PutObject
//     with an unknown size always starts a multipart upload, three requests
//     and a full part buffer even for a 1 KB thumbnail, so Put does not use
//     it; neither does it use aws-sdk-go-v2's upload manager, which buffers
//     five parts at once.
//   - Path-style: a flag in both (BucketLookupPath, UsePathStyle).
//   - Credentials: minio-go takes static keys; Open reads the AWS variables
//     itself. aws-sdk-go-v2's default chain does more (profiles, SSO,
//     instance roles); minio-go has providers for files and IAM roles too, to
//     add if pixpool ever needs them.
package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pixpool/pixpool"
)

// Part sizes. S3 takes parts of 5 MiB to 5 GiB (the last one may be smaller)
// and at most 10,000 of them, so 16 MiB parts allow objects of up to 156 GiB.
const (
	DefaultPartSize = 16 << 20
	minPartSize     = 5 << 20
	maxPartSize     = 5 << 30
	maxParts        = 10000
)

const (
	// dialTimeout bounds connecting: dial and TLS handshake.
	dialTimeout = 5 * time.Second
	// defaultTimeout bounds the wait for a response's headers.
	defaultTimeout = 30 * time.Second
	// maxAttempts bounds the tries of one request: a store that refuses
	// connections fails within a second, not after minio-go's default ten.
	maxAttempts = 3
	// abortTimeout bounds aborting a failed multipart upload.
	abortTimeout = 30 * time.Second
	// firstBuf is the buffer Put starts with; it grows up to PartSize.
	firstBuf = 64 << 10
)

var _ pixpool.BlobStore = (*Store)(nil)

// Config says which store and bucket to use. Only Bucket is required.
type Config struct {
	// Endpoint is the store's "host[:port]", or a URL "http://host:port" or
	// "https://host:port" whose scheme says whether to use TLS. If empty,
	// Amazon S3.
	Endpoint string
	// Region of the bucket. If empty, AWS_REGION, then AWS_DEFAULT_REGION;
	// if those are empty too, the client asks the store once per bucket.
	Region string
	// Bucket holds the blobs.
	Bucket string
	// Prefix goes before every key, so that several pixpool installations or
	// other data can share a bucket: with Prefix "pixpool", key "img/x" is the
	// object "pixpool/img/x". Leading and trailing slashes do not matter.
	// S3 names have at most 1024 bytes, so a prefix of n bytes (with its
	// slash) leaves keys 1024-n: Put refuses longer ones with EINVALID.
	// pixpool's keys are far shorter.
	Prefix string
	// AccessKey and SecretKey sign the requests. If both are empty, they come
	// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and a session token
	// from AWS_SESSION_TOKEN), as in every AWS tool.
	AccessKey, SecretKey string
	// PathStyle addresses the bucket as "endpoint/bucket" and VirtualHost as
	// "bucket.endpoint". If neither is set, virtual-host style for Amazon S3
	// and the other big clouds, path style for every other endpoint, which
	// is what self-hosted stores need. Setting both is an error.
	PathStyle, VirtualHost bool
	// Insecure speaks plain HTTP instead of HTTPS. An Endpoint URL's scheme
	// sets it too.
	Insecure bool
	// PartSize is the size of the parts of a multipart upload, and of the
	// largest value Put sends in a single PUT; Put holds up to this much of a
	// value in memory. From 5 MiB to 5 GiB; if zero, DefaultPartSize.
	PartSize int64
	// Create makes the bucket if it does not exist. Otherwise Open fails
	// then.
	Create bool
	// Timeout bounds the wait for each response's headers, and Open's whole
	// check of the bucket. If zero, 30 seconds.
	Timeout time.Duration
}

// Store keeps blobs as objects in one S3 bucket. It is safe for concurrent
// use, also by several processes and machines.
type Store struct {
	core     *minio.Core
	endpoint string // as the user gave it, for error messages
	bucket   string
	prefix   string // "" or ending in "/"
	partSize int
}

// Open returns a store on cfg's bucket, after checking that the bucket
// exists (or making it, if cfg.Create is set) and that the credentials are
// accepted. It fails within cfg.Timeout, or sooner if ctx ends.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s, timeout, err := newStore(cfg)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: open: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.checkBucket(ctx, cfg.Create); err != nil {
		return nil, fmt.Errorf("blob/s3: open bucket %q at %s: %w", s.bucket, s.endpoint, err)
	}
	return s, nil
}

// newStore validates cfg and builds the store without talking to it.
func newStore(cfg Config) (*Store, time.Duration, error) {
	if cfg.Bucket == "" {
		return nil, 0, errors.New("no bucket given")
	}
	if err := checkBucketName(cfg.Bucket); err != nil {
		return nil, 0, err
	}
	host, secure, err := endpointHost(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, 0, err
	}
	prefix, err := cleanPrefix(cfg.Prefix)
	if err != nil {
		return nil, 0, err
	}
	partSize := cfg.PartSize
	switch {
	case partSize == 0:
		partSize = DefaultPartSize
	case partSize < minPartSize || partSize > maxPartSize:
		return nil, 0, fmt.Errorf("part size %d is not between 5 MiB and 5 GiB", partSize)
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = defaultTimeout
	case timeout < 0:
		return nil, 0, fmt.Errorf("negative timeout %v", timeout)
	}
	lookup := minio.BucketLookupAuto
	switch {
	case cfg.PathStyle && cfg.VirtualHost:
		return nil, 0, errors.New("both path-style and virtual-host addressing asked for")
	case cfg.PathStyle:
		lookup = minio.BucketLookupPath
	case cfg.VirtualHost:
		lookup = minio.BucketLookupDNS
	}
	creds, err := credentialsFor(cfg)
	if err != nil {
		return nil, 0, err
	}
	region := cfg.Region
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = os.Getenv(v)
		}
	}
	core, err := minio.NewCore(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    newTransport(timeout),
		Region:       region,
		BucketLookup: lookup,
		MaxRetries:   maxAttempts,
	})
	if err != nil {
		return nil, 0, err
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = host
	}
	return &Store{
		core:     core,
		endpoint: endpoint,
		bucket:   cfg.Bucket,
		prefix:   prefix,
		partSize: int(partSize),
	}, timeout, nil
}

// endpointHost returns the host[:port] of endpoint and whether to use TLS.
func endpointHost(endpoint string, insecure bool) (host string, secure bool, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", !insecure, nil
	}
	if !strings.Contains(endpoint, "://") {
		if strings.ContainsAny(endpoint, "/?#") {
			return "", false, fmt.Errorf("endpoint %q: want host[:port] or a URL", endpoint)
		}
		return endpoint, !insecure, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("endpoint: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("endpoint %q: the scheme must be http or https", endpoint)
	case u.Scheme == "https" && insecure:
		return "", false, fmt.Errorf("endpoint %q is https, but plain HTTP (insecure) was asked for", endpoint)
	case u.Host == "":
		return "", false, fmt.Errorf("endpoint %q has no host", endpoint)
	case u.User != nil:
		return "", false, fmt.Errorf("endpoint %q holds credentials: give them as the access and secret key", u.Redacted())
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return "", false, fmt.Errorf("endpoint %q: want only scheme, host and port", endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// cleanPrefix returns p without leading and trailing slashes and with one
// trailing slash added, or "" for none.
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("prefix %q: empty, \".\" and \"..\" segments are not allowed", p)
		}
	}
	return p + "/", nil
}

func credentialsFor(cfg Config) (*credentials.Credentials, error) {
	id, secret, token := cfg.AccessKey, cfg.SecretKey, ""
	if id == "" && secret == "" {
		id, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
		if id == "" || secret == "" {
			return nil, errors.New("no credentials: give an access key and secret key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
	}
	if id == "" || secret == "" {
		return nil, errors.New("give both an access key and a secret key, or neither")
	}
	return credentials.NewStaticV4(id, secret, token), nil
}

// newTransport returns a transport like http.DefaultTransport, with
// connecting bounded by dialTimeout and responses by timeout, and without
// transparent decompression, which would change stored bytes sent with a
// Content-Encoding.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
	}
}

// checkBucket checks that the bucket exists and that the credentials are
// good, making the bucket if create is set.
func (s *Store) checkBucket(ctx context.Context, create bool) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return explain(ctx, err)
	}
	if ok {
		return nil
	}
	if !create {
		return errors.New("the bucket does not exist (make it, or let pixpool make it with create)")
	}
	err = s.core.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{})
	if errResponse(err).Code == minio.BucketAlreadyOwnedByYou {
		err = nil // made meanwhile, by a replica starting at the same time
	}
	if err != nil {
		return fmt.Errorf("making the bucket: %w", explain(ctx, err))
	}
	return nil
}

// deniedCodes are the error codes of refused credentials. Most stores say
// 403 Forbidden as well, but versitygw answers an unknown access key with
// 404 XAdminUserNotFound.
var deniedCodes = map[string]bool{
	"AccessDenied":          true,
	"SignatureDoesNotMatch": true,
	"InvalidAccessKeyId":    true,
	"XAdminUserNotFound":    true,
	"InvalidToken":          true,
	"ExpiredToken":          true,
}

// explain adds a plain-words reason to the errors a misconfiguration gives.
func explain(ctx context.Context, err error) error {
	resp := errResponse(err)
	switch {
	case deniedCodes[resp.Code] || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("access denied: check the access key and secret key (a wrong secret gives a bad signature), and that they may use the bucket: %w", err)
	case ctx.Err() != nil || isTimeout(err):
		return fmt.Errorf("no answer in time (is the endpoint right and the store up?): %w", err)
	case resp.StatusCode == 0:
		// No HTTP response at all: refused, unresolvable, TLS mismatch.
		return fmt.Errorf("cannot reach the store (is the endpoint right and the store up?): %w", err)
	}
	return err
}

// isTimeout reports a transport timeout (the response-header timeout may
// fire before the context's deadline); the client may not keep the
// error's type, so its text counts too.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "timeout awaiting response headers") || strings.Contains(err.Error(), "Client.Timeout exceeded")
}

// checkKey returns an EINVALID error if key is not valid, or too long to
// fit with the Prefix in S3's 1024 bytes.
func (s *Store) checkKey(key string) error {
	if err := pixpool.ValidateBlobKey(key); err != nil {
		return err
	}
	if len(s.prefix)+len(key) > pixpool.MaxBlobKeyLen {
		return pixpool.Errorf(pixpool.EINVALID, "Blob key is %d bytes long; after the store's prefix %q it may have at most %d.",
			len(key), s.prefix, pixpool.MaxBlobKeyLen-len(s.prefix))
	}
	return nil
}

// object returns the object name of a valid key.
func (s *Store) object(key string) string { return s.prefix + key }

// Put stores r's bytes under key, in a single PUT if they fit in one part,
// else in a multipart upload. Either is atomic; if r or ctx fails first,
// nothing is stored.
//
// S3 lets "a" and "a/b" both be keys, but stores on a file system do not;
// there Put fails with ECONFLICT, as blob/fs does.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	err := s.put(ctx, key, r)
	if code := errResponse(err).Code; code == "ExistingObjectIsDirectory" || code == "ObjectParentIsFile" {
		// versitygw's posix backend.
		return pixpool.Errorf(pixpool.ECONFLICT, "blob %q clashes with a stored key: a key cannot also be the folder of other keys on this store", key)
	}
	if resp := errResponse(err); resp.StatusCode == http.StatusInsufficientStorage || resp.Code == "XMinioStorageFull" {
		return pixpool.StorageFull(fmt.Errorf("blob/s3: put %q: %w", key, err))
	}
	if err != nil {
		return fmt.Errorf("blob/s3: put %q: %w", key, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r = ctxReader{ctx, r}
	buf, err := s.readPart(r, make([]byte, 0, min(firstBuf, s.partSize)))
	if err != nil {
		return err
	}
	if len(buf) < s.partSize {
		// The last moment to give up without a trace.
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := s.core.PutObject(ctx, s.bucket, s.object(key), bytes.NewReader(buf), int64(len(buf)), "", "", minio.PutObjectOptions{})
		return ctxErr(ctx, err)
	}
	return s.putMultipart(ctx, s.object(key), r, buf)
}

// putMultipart uploads first, a full part, and the rest of r as the parts of
// a multipart upload, completing it only after r's EOF.
func (s *Store) putMultipart(ctx context.Context, object string, r io.Reader, first []byte) (err error) {
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, object, minio.PutObjectOptions{})
	if err != nil {
		return ctxErr(ctx, err)
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			if aerr := s.core.AbortMultipartUpload(actx, s.bucket, object, id); aerr != nil {
				err = errors.Join(err, fmt.Errorf("aborting the upload: %w", aerr))
			}
		}
	}()
	var parts []minio.CompletePart
	buf := first
	for n := 1; ; n++ {
		p, err := s.core.PutObjectPart(ctx, s.bucket, object, id, n, bytes.NewReader(buf), int64(len(buf)), minio.PutObjectPartOptions{})
		if err != nil {
			return ctxErr(ctx, fmt.Errorf("part %d: %w", n, err))
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
		if len(buf) < s.partSize {
			break
		}
		if buf, err = s.readPart(r, buf[:0]); err != nil {
			return err
		}
		if len(buf) == 0 {
			break
		}
		if n == maxParts {
			return pixpool.Errorf(pixpool.ETOOLARGE, "Blob is larger than %d parts of %d bytes.", maxParts, s.partSize)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err = s.core.CompleteMultipartUpload(ctx, s.bucket, object, id, parts, minio.PutObjectOptions{})
	return ctxErr(ctx, err)
}

// readPart appends to buf[:0] what r gives until it holds PartSize bytes or r
// ends, growing buf as needed: by doubling while small, then straight to
// PartSize, so that a value just over a small buffer does not leave a
// series of ever larger copies behind.
func (s *Store) readPart(r io.Reader, buf []byte) ([]byte, error) {
	for len(buf) < s.partSize {
		if len(buf) == cap(buf) {
			n := 2 * cap(buf)
			if n > s.partSize/4 {
				n = s.partSize
			}
			buf = append(make([]byte, 0, n), buf...)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// Get returns the blob under key, streaming it from the store, or an error
// with code ENOTFOUND.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := s.checkKey(key); err != nil {
		return nil, fmt.Errorf("blob/s3: get %q: %w", key, err)
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if missing(err) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "blob %q not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/s3: get %q: %w", key, ctxErr(ctx, err))
	}
	return rc, nil
}

// Delete removes the blob under key. A missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.checkKey(key); err != nil {
		return fmt.Errorf("blob/s3: delete %q: %w", key, err)
	}
	err := s.core.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{})
	if err != nil && !missing(err) {
		return fmt.Errorf("blob/s3: delete %q: %w", key, ctxErr(ctx, err))
	}
	return nil
}

// List calls fn for every key starting with prefix, in lexical order, and
// stops at the first error, which it returns as is. Objects below Prefix
// whose names are not valid keys (put there by other tools) are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(pixpool.BlobInfo) error) error {
	if !prefixCanMatch(prefix) {
		return ctx.Err()
	}
	fetchOwner := false
	for obj := range s.core.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:     s.prefix + prefix,
		Recursive:  true,
		FetchOwner: &fetchOwner,
	}) {
		if obj.Err != nil {
			return fmt.Errorf("blob/s3: list %q: %w", prefix, ctxErr(ctx, obj.Err))
		}
		key, ok := strings.CutPrefix(obj.Key, s.prefix)
		if !ok || pixpool.ValidateBlobKey(key) != nil {
			continue
		}
		if err := fn(pixpool.BlobInfo{Key: key, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	// The listing stops quietly when ctx ends.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob/s3: list %q: %w", prefix, err)
	}
	return nil
}

// missing reports whether err says that an object does not exist. Only the
// code counts, not a 404 status: versitygw also answers an unknown access
// key with 404, and a missing bucket is a misconfiguration, not a missing
// blob. (minio-go gives a bodiless 404 the code NoSuchKey.)
func missing(err error) bool {
	return err != nil && errResponse(err).Code == minio.NoSuchKey
}

// errResponse returns the store's answer in err's chain, or a zero one.
// (minio.ToErrorResponse looks at err only, not at what it wraps.)
func errResponse(err error) minio.ErrorResponse {
	var resp minio.ErrorResponse
	errors.As(err, &resp)
	return resp
}

// ctxErr returns ctx's error, which callers test with errors.Is, if ctx ended
// and err is not nil: the client's error then says no more than that.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// ctxReader fails reads once ctx is done, so a cancelled Put stops reading
// and stores nothing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
