package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// putCert calls PutCertFile and fails t on an error.
func putCert(t *testing.T, s pixpool.Store, key string, data []byte) {
	t.Helper()
	if err := s.PutCertFile(t.Context(), key, data); err != nil {
		t.Fatalf("PutCertFile(%q)=%v", key, err)
	}
}

// certKeys returns the keys CertFiles(prefix) lists.
func certKeys(t *testing.T, s pixpool.Store, prefix string) []string {
	t.Helper()
	files, err := s.CertFiles(t.Context(), prefix)
	if err != nil {
		t.Fatalf("CertFiles(%q)=%v", prefix, err)
	}
	keys := []string{}
	for _, f := range files {
		keys = append(keys, f.Key)
	}
	return keys
}

func testCertFile(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	_, err := s.CertFile(ctx, "certificates/ca/a.example/a.example.crt")
	wantCode(t, "CertFile(missing)", err, pixpool.ENOTFOUND)
	_, err = s.StatCertFile(ctx, "certificates/ca/a.example/a.example.crt")
	wantCode(t, "StatCertFile(missing)", err, pixpool.ENOTFOUND)

	key := []byte("-----BEGIN EC PRIVATE KEY-----\n\x00\xff binary too\n")
	before := time.Now()
	putCert(t, s, "certificates/ca/a.example/a.example.key", key)
	got, err := s.CertFile(ctx, "certificates/ca/a.example/a.example.key")
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("CertFile()=%q, %v, want %q", got, err, key)
	}
	fi, err := s.StatCertFile(ctx, "certificates/ca/a.example/a.example.key")
	if err != nil {
		t.Fatalf("StatCertFile()=%v", err)
	}
	if fi.Key != "certificates/ca/a.example/a.example.key" || fi.Size != int64(len(key)) {
		t.Fatalf("StatCertFile()=%+v, want the key and size %d", fi, len(key))
	}
	if fi.Modified.Location() != time.UTC || fi.Modified.Before(before.Truncate(time.Millisecond)) || fi.Modified.After(time.Now()) {
		t.Fatalf("StatCertFile().Modified=%v, want a UTC time between %v and now", fi.Modified, before)
	}

	// Put replaces; an empty file is not a missing one.
	putCert(t, s, "certificates/ca/a.example/a.example.key", []byte("new"))
	putCert(t, s, "empty", nil)
	if got, err := s.CertFile(ctx, "certificates/ca/a.example/a.example.key"); err != nil || string(got) != "new" {
		t.Fatalf("CertFile(replaced)=%q, %v, want \"new\"", got, err)
	}
	if got, err := s.CertFile(ctx, "empty"); err != nil || len(got) != 0 {
		t.Fatalf("CertFile(empty)=%q, %v, want empty", got, err)
	}
	if fi, err := s.StatCertFile(ctx, "empty"); err != nil || fi.Size != 0 {
		t.Fatalf("StatCertFile(empty)=%+v, %v, want size 0", fi, err)
	}
}

func testCertFiles(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	for _, k := range []string{
		"certificates/ca/b.example/b.example.crt",
		"certificates/ca/a.example/a.example.key",
		"certificates/ca/a.example/a.example.crt",
		"certificates/ca/a.example.org/a.example.org.crt",
		"certificates/ca/a.example",       // a file named like a folder
		"certificates/ca/A.example/upper", // keys compare bytewise
		"certificates/ca/a_example/x",     // _ and % are not patterns
		"certificates/ca/a%example/y",
		"acme/ca/users/me@example.com/key",
	} {
		putCert(t, s, k, []byte(k))
	}
	steps := []struct {
		prefix string
		want   []string
	}{
		{"certificates/ca/a.example/", []string{"certificates/ca/a.example/a.example.crt", "certificates/ca/a.example/a.example.key"}},
		{"certificates/ca/a.example", []string{"certificates/ca/a.example", "certificates/ca/a.example.org/a.example.org.crt", "certificates/ca/a.example/a.example.crt", "certificates/ca/a.example/a.example.key"}},
		{"certificates/ca/a_", []string{"certificates/ca/a_example/x"}},
		{"certificates/ca/a%", []string{"certificates/ca/a%example/y"}},
		{"acme/", []string{"acme/ca/users/me@example.com/key"}},
		{"nothing/", []string{}},
	}
	for _, st := range steps {
		if got := certKeys(t, s, st.prefix); !slices.Equal(got, st.want) {
			t.Fatalf("CertFiles(%q)=%q, want %q", st.prefix, got, st.want)
		}
	}
	if got := certKeys(t, s, ""); len(got) != 9 || !slices.IsSorted(got) {
		t.Fatalf("CertFiles(\"\")=%q, want all 9 in key order", got)
	}

	// Deleting a folder removes what is under it and the file of that
	// name, but not a sibling that shares the prefix.
	if err := s.DeleteCertFiles(ctx, "certificates/ca/a.example"); err != nil {
		t.Fatalf("DeleteCertFiles()=%v", err)
	}
	want := []string{"certificates/ca/a.example.org/a.example.org.crt"}
	if got := certKeys(t, s, "certificates/ca/a.example"); !slices.Equal(got, want) {
		t.Fatalf("after delete, CertFiles()=%q, want %q", got, want)
	}
	if err := s.DeleteCertFiles(ctx, "certificates/ca/a.example"); err != nil {
		t.Fatalf("DeleteCertFiles(again)=%v, want nil", err)
	}
	if err := s.DeleteCertFiles(ctx, "acme/ca/users/me@example.com/key"); err != nil {
		t.Fatalf("DeleteCertFiles(file)=%v", err)
	}
	if got := certKeys(t, s, "acme/"); len(got) != 0 {
		t.Fatalf("after deleting the file, CertFiles()=%q, want none", got)
	}
}

// testCertFilesRestore checks that certificate files are not in backups,
// and that a restore leaves the current ones in place: it must not bring
// back an old key.
func testCertFilesRestore(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	fillBackup(t, s)
	putCert(t, s, "certificates/ca/a.example/a.example.key", []byte("old"))
	backup := export(t, s)
	for _, tbl := range pixpool.BackupTables {
		if tbl.Name == "cert_files" {
			t.Fatal("BackupTables holds cert_files")
		}
	}
	putCert(t, s, "certificates/ca/a.example/a.example.key", []byte("current"))
	if err := restore(t, s, nil, backup); err != nil {
		t.Fatalf("ImportTables()=%v", err)
	}
	if got, err := s.CertFile(ctx, "certificates/ca/a.example/a.example.key"); err != nil || string(got) != "current" {
		t.Fatalf("after a restore, CertFile()=%q, %v, want \"current\"", got, err)
	}
}
