package main

import (
	"os"
	"testing"

	"github.com/pixpool/pixpool/pixpooltest"
)

// TestOpenBlobs_OneKeyByFlagTheOtherFromAWSVariable: a key not given by flag
// is the AWS variable's, as the flags' usage says. deploy/kubernetes gives
// serve the access key as AWS_ACCESS_KEY_ID and the secret key as
// PIXPOOL_S3_SECRET_KEY_FILE (--s3-secret-key).
func TestOpenBlobs_OneKeyByFlagTheOtherFromAWSVariable(t *testing.T) {
	bucket := pixpooltest.S3Bucket(t) // sets both AWS variables
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	for name, c := range map[string]struct {
		keys              s3Keys
		envAccess, envSec string
	}{
		"secret by flag": {s3Keys{secret: secret}, access, ""},
		"access by flag": {s3Keys{access: access}, "", secret},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", c.envAccess)
			t.Setenv("AWS_SECRET_ACCESS_KEY", c.envSec)
			b, err := openBlobs(t.Context(), t.TempDir(), bucket, c.keys)
			if err != nil {
				t.Fatalf("openBlobs: %v", err)
			}
			if c, ok := b.(interface{ Close() error }); ok {
				c.Close()
			}
		})
	}
}
