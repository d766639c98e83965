package s3_test

// The tests that need an S3 server take it from PIXPOOL_TEST_S3:
//
//	PIXPOOL_TEST_S3=http://ACCESS:SECRET@127.0.0.1:PORT
//
// (https works too). scripts/s3-test.sh starts a throwaway versitygw and
// prints that value:
//
//	export PIXPOOL_TEST_S3=$(scripts/s3-test.sh start /tmp/s3test)
//	go test ./blob/s3
//	scripts/s3-test.sh stop /tmp/s3test
//
// Without it they are skipped, or fail if CI is set. Each test makes its own
// buckets and removes them, with everything in them, when it ends.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/blob/blobtest"
	blobs3 "github.com/pixpool/pixpool/blob/s3"
)

func TestStore(t *testing.T) {
	srv := testServer(t)
	blobtest.Run(t, func(t *testing.T) pixpool.BlobStore {
		return srv.open(t, srv.config(srv.bucketName(t)))
	})
}

// With a Prefix the store keeps to it: objects beside it, even one whose
// name starts with the prefix's letters, are neither listed nor touched.
// (blobtest cannot run on it unchanged: it stores a 1024-byte key, the most
// S3 takes, which leaves no room for a prefix.)
func TestStore_Prefix(t *testing.T) {
	srv := testServer(t)
	ctx := t.Context()
	cfg := srv.config(srv.bucketName(t))
	cfg.Prefix = "/pp/x/"
	s := srv.open(t, cfg)
	outside := []string{"top", "pp/xy", "pp/x.jpg", "pp/xx/img/ab/cdef.jpg"}
	for _, name := range outside {
		srv.putRaw(t, cfg.Bucket, name, "outside the prefix")
	}
	// Objects inside the prefix whose names are not valid keys, put by
	// other tools, are skipped.
	for _, name := range []string{"pp/x/README.TXT", "pp/x/.hidden"} {
		srv.putRaw(t, cfg.Bucket, name, "not a key")
	}
	srv.putRaw(t, cfg.Bucket, "pp/x/img/", "") // a "folder", as consoles make them

	for _, key := range []string{"img/ab/cdef.jpg", "top", "p"} {
		if err := s.Put(ctx, key, strings.NewReader("value of "+key)); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		info, err := srv.admin.StatObject(ctx, cfg.Bucket, "pp/x/"+key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("object pp/x/%s: %v", key, err)
		}
		if got, want := info.Size, int64(len("value of "+key)); got != want {
			t.Fatalf("object pp/x/%s has %d bytes, want %d", key, got, want)
		}
	}
	for prefix, want := range map[string][]string{
		"":     {"img/ab/cdef.jpg", "p", "top"},
		"img/": {"img/ab/cdef.jpg"},
		"t":    {"top"},
		"x":    nil,
	} {
		var got []string
		err := s.List(ctx, prefix, func(bi pixpool.BlobInfo) error {
			got = append(got, bi.Key)
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q)=%q, want %q", prefix, got, want)
		}
	}
	for _, key := range []string{"img", "img/ab", "xy", "x.jpg"} {
		if _, err := s.Get(ctx, key); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Errorf("Get(%q) returned %v, want code %s", key, err, pixpool.ENOTFOUND)
		}
	}
	for _, key := range []string{"top", "img/ab/cdef.jpg", "p"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	}
	for _, name := range outside {
		if _, err := srv.admin.StatObject(ctx, cfg.Bucket, name, minio.StatObjectOptions{}); err != nil {
			t.Errorf("object %s outside the prefix: %v", name, err)
		}
	}

	// The prefix "pp/x/" takes 5 of S3's 1024 bytes.
	long := strings.Repeat("a/", 509) + "a"
	if err := s.Put(ctx, long, strings.NewReader("v")); err != nil {
		t.Fatalf("Put of a %d-byte key: %v", len(long), err)
	}
	long += "a"
	if err := s.Put(ctx, long, strings.NewReader("v")); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("Put of a %d-byte key returned %v, want code %s", len(long), err, pixpool.EINVALID)
	}
}

// S3 lets "a" and "a/b" both be keys; a store on a file system cannot, and
// then Put fails with ECONFLICT, as in blob/fs, keeping what is stored.
func TestStore_KeyFolderClash(t *testing.T) {
	srv := testServer(t)
	ctx := t.Context()
	s := srv.open(t, srv.config(srv.bucketName(t)))
	for _, tt := range []struct{ first, then string }{{"a/b", "a"}, {"c", "c/d"}} {
		if err := s.Put(ctx, tt.first, strings.NewReader(tt.first)); err != nil {
			t.Fatalf("Put(%q): %v", tt.first, err)
		}
		err := s.Put(ctx, tt.then, strings.NewReader(tt.then))
		if err != nil && pixpool.ErrorCode(err) != pixpool.ECONFLICT {
			t.Errorf("Put(%q) after Put(%q) returned %v, want nil or code %s", tt.then, tt.first, err, pixpool.ECONFLICT)
		}
		t.Logf("Put(%q) after Put(%q): %v", tt.then, tt.first, err)
		rc, err := s.Get(ctx, tt.first)
		if err != nil {
			t.Fatalf("Get(%q): %v", tt.first, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != tt.first {
			t.Fatalf("Get(%q)=%q, %v; want %q", tt.first, b, err, tt.first)
		}
	}
}

func TestOpen_Create(t *testing.T) {
	srv := testServer(t)
	cfg := srv.config(srv.bucketName(t))
	cfg.Create = false
	_, err := blobs3.Open(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), cfg.Bucket) {
		t.Fatalf("Open of a missing bucket returned %v, want an error naming it and saying it does not exist", err)
	}
	cfg.Create = true
	srv.open(t, cfg)
	// Opening an existing bucket, with or without Create, works.
	srv.open(t, cfg)
	cfg.Create = false
	srv.open(t, cfg)
}

func TestOpen_WrongSecret(t *testing.T) {
	srv := testServer(t)
	cfg := srv.config(srv.bucketName(t))
	srv.open(t, cfg) // makes the bucket
	for _, tt := range []struct {
		name string
		edit func(*blobs3.Config)
	}{
		{"Secret", func(c *blobs3.Config) { c.SecretKey += "x" }},
		{"AccessKey", func(c *blobs3.Config) { c.AccessKey = "nosuchuser" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfg
			tt.edit(&cfg)
			start := time.Now()
			_, err := blobs3.Open(t.Context(), cfg)
			if err == nil {
				t.Fatal("Open with wrong credentials succeeded")
			}
			t.Logf("Open: %v", err)
			if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "access denied") || !strings.Contains(msg, "secret") {
				t.Errorf("Open returned %q, want a message saying access denied and to check the secret", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Open took %v to refuse, want under 5s", d)
			}
		})
	}
}

// An endpoint where nothing listens fails fast, naming the endpoint.
func TestOpen_Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()

	start := time.Now()
	_, err = blobs3.Open(t.Context(), blobs3.Config{
		Endpoint: endpoint, Bucket: "pixpool", AccessKey: "a", SecretKey: "b", PathStyle: true,
	})
	d := time.Since(start)
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	t.Logf("Open (%v): %v", d.Round(time.Millisecond), err)
	if msg := err.Error(); !strings.Contains(msg, endpoint) || !strings.Contains(msg, "cannot reach") {
		t.Errorf("Open returned %q, want it to name %s and say it cannot reach it", msg, endpoint)
	}
	if d > 5*time.Second {
		t.Errorf("Open took %v to fail, want under 5s", d)
	}
}

// A store that accepts connections but never answers fails within Timeout.
func TestOpen_Hung(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // read nothing, answer nothing
		}
	}()
	endpoint := "http://" + ln.Addr().String()

	start := time.Now()
	_, err = blobs3.Open(t.Context(), blobs3.Config{
		Endpoint: endpoint, Bucket: "pixpool", AccessKey: "a", SecretKey: "b", PathStyle: true,
		Timeout: time.Second,
	})
	d := time.Since(start)
	if err == nil {
		t.Fatal("Open of a silent server succeeded")
	}
	t.Logf("Open (%v): %v", d.Round(time.Millisecond), err)
	if msg := err.Error(); !strings.Contains(msg, endpoint) || !strings.Contains(msg, "no answer") {
		t.Errorf("Open returned %q, want it to name %s and say it got no answer", msg, endpoint)
	}
	if d > 4*time.Second {
		t.Errorf("Open took %v with a 1s timeout, want under 4s", d)
	}
}

func TestOpen_BadConfig(t *testing.T) {
	good := blobs3.Config{Endpoint: "http://127.0.0.1:1", Bucket: "pixpool", AccessKey: "a", SecretKey: "b"}
	for _, tt := range []struct {
		name string
		edit func(*blobs3.Config)
		want string
	}{
		{"NoBucket", func(c *blobs3.Config) { c.Bucket = "" }, "no bucket"},
		{"BadBucket", func(c *blobs3.Config) { c.Bucket = "Pix_Pool" }, "bucket name"},
		{"BothStyles", func(c *blobs3.Config) { c.PathStyle, c.VirtualHost = true, true }, "both"},
		{"SmallParts", func(c *blobs3.Config) { c.PartSize = 1 << 20 }, "part size"},
		{"HalfCredentials", func(c *blobs3.Config) { c.SecretKey = "" }, "both an access key and a secret key"},
		{"EndpointScheme", func(c *blobs3.Config) { c.Endpoint = "ftp://127.0.0.1:1" }, "http or https"},
		{"EndpointPath", func(c *blobs3.Config) { c.Endpoint = "http://127.0.0.1:1/bucket" }, "only scheme, host and port"},
		{"HTTPSButInsecure", func(c *blobs3.Config) { c.Endpoint, c.Insecure = "https://127.0.0.1:1", true }, "plain HTTP"},
		{"DotPrefix", func(c *blobs3.Config) { c.Prefix = "a/../b" }, "prefix"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := blobs3.Open(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open returned %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("NoCredentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		cfg := good
		cfg.AccessKey, cfg.SecretKey = "", ""
		_, err := blobs3.Open(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
			t.Fatalf("Open returned %v, want an error naming AWS_ACCESS_KEY_ID", err)
		}
	})
}

// Credentials and region come from the AWS variables when Config has none.
func TestOpen_Env(t *testing.T) {
	srv := testServer(t)
	cfg := srv.config(srv.bucketName(t))
	t.Setenv("AWS_ACCESS_KEY_ID", cfg.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", cfg.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	cfg.AccessKey, cfg.SecretKey = "", ""
	s := srv.open(t, cfg)
	if err := s.Put(t.Context(), "k", strings.NewReader("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if _, err := blobs3.Open(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("Open with a wrong AWS_SECRET_ACCESS_KEY returned %v, want access denied", err)
	}
}

// A value over PartSize goes up in parts, streamed: Put holds one part in
// memory, not the value.
func TestStore_Multipart(t *testing.T) {
	srv := testServer(t)
	cfg := srv.config(srv.bucketName(t))
	s := srv.open(t, cfg)
	ctx := t.Context()
	const size = 40<<20 + 123 // parts of 16, 16 and 8 MiB

	h := sha256.New()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := s.Put(ctx, "big/value", io.TeeReader(newGenReader(1, size), h)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	runtime.ReadMemStats(&after)
	want := h.Sum(nil)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Put of %d MiB allocated %d MiB", size>>20, alloc>>20)
	if alloc >= size {
		t.Errorf("Put of %d bytes allocated %d bytes, want less than the value: it should hold one part at a time", size, alloc)
	}

	// An object made by a multipart upload has an ETag "<hash>-<parts>".
	info, err := srv.admin.StatObject(ctx, cfg.Bucket, "big/value", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Size, int64(size); got != want {
		t.Errorf("stored size=%d, want %d", got, want)
	}
	if !strings.HasSuffix(info.ETag, "-3") {
		t.Errorf("ETag=%q, want one of a 3-part multipart upload", info.ETag)
	}

	rc, err := s.Get(ctx, "big/value")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	h.Reset()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if n != size || !bytes.Equal(h.Sum(nil), want) {
		t.Fatalf("Get returned %d bytes (SHA-256 %x), want %d (SHA-256 %x)", n, h.Sum(nil), size, want)
	}
}

// A multipart upload that fails midway, by the reader or the context,
// stores nothing, keeps the old value and leaves no upload behind.
func TestStore_MultipartFails(t *testing.T) {
	srv := testServer(t)
	errBoom := errors.New("boom")
	for _, tt := range []struct {
		name    string
		wantErr error
		reader  func(cancel context.CancelFunc) io.Reader
	}{
		{"Reader", errBoom, func(context.CancelFunc) io.Reader {
			return io.MultiReader(newGenReader(2, 12<<20), errorReader{errBoom})
		}},
		{"Context", context.Canceled, func(cancel context.CancelFunc) io.Reader {
			return io.MultiReader(newGenReader(2, 12<<20), cancelingReader{cancel}, newGenReader(3, 5<<20))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(srv.bucketName(t))
			cfg.PartSize = 5 << 20
			s := srv.open(t, cfg)
			if err := s.Put(t.Context(), "k", strings.NewReader("old value")); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"k", "new"} {
				ctx, cancel := context.WithCancel(t.Context())
				err := s.Put(ctx, key, tt.reader(cancel))
				cancel()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put(%q) returned %v, want %v", key, err, tt.wantErr)
				}
			}
			rc, err := s.Get(t.Context(), "k")
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(b) != "old value" {
				t.Fatalf("Get after the failed Put=%q, %v; want the old value", b, err)
			}
			if _, err := s.Get(t.Context(), "new"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
				t.Fatalf("Get of a key whose only Put failed returned %v, want code %s", err, pixpool.ENOTFOUND)
			}
			for u := range srv.admin.ListIncompleteUploads(t.Context(), cfg.Bucket, "", true) {
				if u.Err != nil {
					t.Fatal(u.Err)
				}
				t.Errorf("upload of %q (%s) left behind", u.Key, u.UploadID)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want blobs3.Config
	}{
		{"s3://pixpool", blobs3.Config{Bucket: "pixpool"}},
		{"s3://pixpool/", blobs3.Config{Bucket: "pixpool"}},
		{"s3://pixpool/prod/images/", blobs3.Config{Bucket: "pixpool", Prefix: "prod/images"}},
		{
			"s3://pixpool/optional/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true",
			blobs3.Config{Bucket: "pixpool", Prefix: "optional/prefix", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1", PathStyle: true},
		},
		{
			"s3://my.bucket-1?endpoint=s3.example.com:8443&path_style=false&create=true&part_size=32MiB&timeout=1m",
			blobs3.Config{Bucket: "my.bucket-1", Endpoint: "s3.example.com:8443", VirtualHost: true, Create: true, PartSize: 32 << 20, Timeout: time.Minute},
		},
		{"s3://pixpool?part_size=5242880&endpoint=https://s3.eu-west-1.amazonaws.com", blobs3.Config{Bucket: "pixpool", PartSize: 5 << 20, Endpoint: "https://s3.eu-west-1.amazonaws.com"}},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := blobs3.ParseURL(tt.in)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if got != tt.want {
				t.Fatalf("ParseURL=%+v, want %+v", got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		in, want string
	}{
		{"", "s3://"},
		{"pixpool", "s3://"},
		{"http://pixpool", "s3://"},
		{"s3:pixpool", "two slashes"},
		{"s3://", "no bucket"},
		{"s3:///prefix", "no bucket"},
		{"s3://Pixpool", "bucket name"},
		{"s3://pixpool:9000", "bucket name"},
		{"s3://ab", "bucket name"},
		{"s3://pixpool/a//b", "prefix"},
		{"s3://pixpool/a/../b", "prefix"},
		{"s3://pixpool#x", "fragment"},
		{"s3://pixpool?endpoint=ftp://host", "endpoint"},
		{"s3://pixpool?endpoint=http://host/path", "endpoint"},
		{"s3://pixpool?endpoint=", "endpoint"},
		{"s3://pixpool?path_style=yes", "path_style"},
		{"s3://pixpool?create=1x", "create"},
		{"s3://pixpool?part_size=1MiB", "part_size"},
		{"s3://pixpool?part_size=-5", "part_size"},
		{"s3://pixpool?part_size=16MB", "part_size"},
		{"s3://pixpool?timeout=10", "timeout"},
		{"s3://pixpool?region=a&region=b", "2 times"},
		{"s3://pixpool?endpiont=http://127.0.0.1:9000", `unknown option "endpiont"`},
		{"s3://pixpool?%zz", "invalid URL escape"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			_, err := blobs3.ParseURL(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseURL returned %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("Credentials", func(t *testing.T) {
		_, err := blobs3.ParseURL("s3://KEY:s3cr3t@pixpool")
		if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
			t.Fatalf("ParseURL returned %v, want an error pointing to AWS_ACCESS_KEY_ID", err)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Fatalf("ParseURL's error %q shows the secret", err)
		}
	})
}

// server is the S3 server named by PIXPOOL_TEST_S3.
type server struct {
	endpoint       string // scheme://host:port
	access, secret string
	admin          *minio.Client // for making and removing buckets
}

// testServer returns the server of PIXPOOL_TEST_S3, skipping the test if
// it is not set, or failing it under CI.
func testServer(t *testing.T) *server {
	t.Helper()
	v := os.Getenv("PIXPOOL_TEST_S3")
	if v == "" {
		const msg = "PIXPOOL_TEST_S3 is not set; start an S3 server with " +
			"`export PIXPOOL_TEST_S3=$(scripts/s3-test.sh start /tmp/s3test)`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(v)
	if err != nil {
		t.Fatalf("PIXPOOL_TEST_S3: want http://ACCESS:SECRET@HOST:PORT: %v", err)
	}
	secret, _ := u.User.Password()
	if (u.Scheme != "http" && u.Scheme != "https") || u.User.Username() == "" || secret == "" {
		t.Fatalf("PIXPOOL_TEST_S3=%q: want http://ACCESS:SECRET@HOST:PORT", u.Redacted())
	}
	admin, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(u.User.Username(), secret, ""),
		Secure:       u.Scheme == "https",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &server{endpoint: u.Scheme + "://" + u.Host, access: u.User.Username(), secret: secret, admin: admin}
}

// config returns a Config for bucket that makes the bucket.
func (srv *server) config(bucket string) blobs3.Config {
	return blobs3.Config{
		Endpoint:  srv.endpoint,
		Bucket:    bucket,
		AccessKey: srv.access,
		SecretKey: srv.secret,
		PathStyle: true,
		Create:    true,
	}
}

// bucketName returns a new bucket name, and removes the bucket of that
// name, with everything in it, when t ends.
func (srv *server) bucketName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name := "pixpool-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		// t.Context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if ok, err := srv.admin.BucketExists(ctx, name); err != nil || !ok {
			if err != nil {
				t.Errorf("clean-up: %v", err)
			}
			return
		}
		for u := range srv.admin.ListIncompleteUploads(ctx, name, "", true) {
			if u.Err == nil {
				u.Err = srv.admin.RemoveIncompleteUpload(ctx, name, u.Key)
			}
			if u.Err != nil {
				t.Errorf("clean-up: %v", u.Err)
				return
			}
		}
		for obj := range srv.admin.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil {
				obj.Err = srv.admin.RemoveObject(ctx, name, obj.Key, minio.RemoveObjectOptions{})
			}
			if obj.Err != nil {
				t.Errorf("clean-up: %v", obj.Err)
				return
			}
		}
		if err := srv.admin.RemoveBucket(ctx, name); err != nil {
			t.Errorf("clean-up: removing bucket %s: %v", name, err)
		}
	})
	return name
}

func (srv *server) open(t *testing.T, cfg blobs3.Config) *blobs3.Store {
	t.Helper()
	s, err := blobs3.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// putRaw stores an object past the store, as another tool would.
func (srv *server) putRaw(t *testing.T, bucket, name, val string) {
	t.Helper()
	_, err := srv.admin.PutObject(t.Context(), bucket, name, strings.NewReader(val), int64(len(val)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("putting %q: %v", name, err)
	}
}

// genReader returns n pseudo-random bytes, made as they are read.
type genReader struct {
	rng *mathrand.ChaCha8
	n   int64
}

func newGenReader(seed byte, n int64) *genReader {
	return &genReader{rng: mathrand.NewChaCha8([32]byte{seed}), n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n)]
	g.rng.Read(p)
	g.n -= int64(len(p))
	return len(p), nil
}

type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }

// cancelingReader cancels once read, and reads as empty: the reads after it
// carry on as if nothing happened.
type cancelingReader struct{ cancel context.CancelFunc }

func (r cancelingReader) Read([]byte) (int, error) {
	r.cancel()
	return 0, io.EOF
}
