package pixpool

import (
	"context"
	"time"
)

// CertStore keeps the files of automatic HTTPS (package acme): ACME
// account keys, certificates and their private keys, and the challenge
// tokens of an order under way, shared by every process using the store,
// so that replicas serve one certificate and answer each other's
// challenges (part of Store). Keys are slash-separated paths, compared
// bytewise.
//
// They are not part of backups: a certificate can always be obtained
// again, and a restore must not bring back an old key or a certificate
// that was replaced since.
type CertStore interface {
	// PutCertFile creates or replaces the file key.
	PutCertFile(ctx context.Context, key string, data []byte) error
	// CertFile returns the contents of the file key, or ENOTFOUND.
	CertFile(ctx context.Context, key string) ([]byte, error)
	// StatCertFile describes the file key, or returns ENOTFOUND.
	StatCertFile(ctx context.Context, key string) (CertFileInfo, error)
	// CertFiles describes every file whose key starts with prefix, in
	// key order.
	CertFiles(ctx context.Context, prefix string) ([]CertFileInfo, error)
	// DeleteCertFiles removes the file key and every file under key + "/";
	// removing nothing is not an error.
	DeleteCertFiles(ctx context.Context, key string) error
}

// CertFileInfo describes a file of CertStore.
type CertFileInfo struct {
	Key      string
	Size     int64
	Modified time.Time // when it was last put, by the store's clock
}
