package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseFlags_File: every PIXPOOL_ variable may name a file holding the
// value instead (NAME_FILE), so secrets need be neither on the command
// line nor in the environment.
func TestParseFlags_File(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Setenv("PIXPOOL_DB_FILE", write("db", "postgres://pixpool:s3cret@127.0.0.1/pixpool\n"))
	t.Setenv("PIXPOOL_S3_SECRET_KEY_FILE", write("s3", "s3-s3cret"))
	t.Setenv("PIXPOOL_ADDR_FILE", write("addr", "127.0.0.1:9999\r\n"))
	var c Config
	fs := newFlagSet()
	c.flags(fs)
	if err := parseFlags(fs, []string{"--addr", "127.0.0.1:1234"}); err != nil {
		t.Fatal(err)
	}
	if c.DB != "postgres://pixpool:s3cret@127.0.0.1/pixpool" || c.S3SecretKey != "s3-s3cret" || c.Addr != "127.0.0.1:1234" {
		t.Fatalf("config %+v", c)
	}

	t.Run("Both", func(t *testing.T) {
		t.Setenv("PIXPOOL_DB", "postgres://elsewhere")
		fs := newFlagSet()
		c.flags(fs)
		if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), "both PIXPOOL_DB and PIXPOOL_DB_FILE") {
			t.Fatalf("parseFlags with both = %v", err)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		t.Setenv("PIXPOOL_DB_FILE", filepath.Join(dir, "nope"))
		fs := newFlagSet()
		c.flags(fs)
		if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), "PIXPOOL_DB_FILE") {
			t.Fatalf("parseFlags with a missing file = %v", err)
		}
	})
	t.Run("Password", func(t *testing.T) {
		t.Setenv("PIXPOOL_PASSWORD_FILE", write("pw", "correct horse\n"))
		if pw, err := readPassword(strings.NewReader("typed\n"), io.Discard); pw != "correct horse" || err != nil {
			t.Fatalf("readPassword = %q, %v", pw, err)
		}
		if pw, ok, err := lookupEnv("PIXPOOL_ADMIN_PASSWORD"); ok || err != nil {
			t.Fatalf("lookupEnv(unset) = %q, %v, %v", pw, ok, err)
		}
		t.Setenv("PIXPOOL_ADMIN_PASSWORD_FILE", write("admin", "admin pass\n"))
		if pw, ok, err := lookupEnv("PIXPOOL_ADMIN_PASSWORD"); pw != "admin pass" || !ok || err != nil {
			t.Fatalf("lookupEnv = %q, %v, %v", pw, ok, err)
		}
	})
}

// TestOpenDB_Redacts: a store address that cannot be used is named in the
// error without its password, in any of the forms it may take.
func TestOpenDB_Redacts(t *testing.T) {
	for _, db := range []string{
		"host=127.0.0.1 password=s3cret user=pixpool",
		"host=127.0.0.1 password='s3cret with spaces' user=pixpool",
		"mysql://pixpool:s3cret@127.0.0.1/pixpool",
		"pg://127.0.0.1/pixpool?sslpassword=s3cret",
	} {
		_, err := openDB(context.Background(), t.TempDir(), db)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "***") {
			t.Errorf("openDB(%q) = %v; want an error without the password", db, err)
		}
	}
	_, err := openBlobs(context.Background(), t.TempDir(), "ftp://u:s3cret@127.0.0.1/x", s3Keys{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("openBlobs = %v; want an error without the password", err)
	}
}
