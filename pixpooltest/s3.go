package pixpooltest

import (
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
)

// S3Env names the S3 server tests use, as http://ACCESS:SECRET@HOST:PORT;
// scripts/s3-test.sh starts one and scripts/with-services.sh sets it.
const S3Env = "PIXPOOL_TEST_S3"

// S3Bucket returns the `--blob` URL of a new bucket on the test S3 server
// (made on first use) and sets the AWS credential variables for tb. Without
// S3Env set it skips tb, except in CI.
func S3Bucket(tb testing.TB) string {
	tb.Helper()
	raw := os.Getenv(S3Env)
	if raw == "" {
		msg := S3Env + " is not set; start a throwaway server with " + S3Env + "=$(scripts/s3-test.sh start /tmp/s3test)"
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		tb.Fatalf("%s: want http://ACCESS:SECRET@HOST:PORT", S3Env)
	}
	secret, _ := u.User.Password()
	if t, ok := tb.(interface{ Setenv(k, v string) }); ok {
		t.Setenv("AWS_ACCESS_KEY_ID", u.User.Username())
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	} else {
		tb.Fatal("S3Bucket needs a *testing.T or *testing.B")
	}
	endpoint := u.Scheme + "://" + u.Host
	bucket := "pixpool-test-" + strings.ToLower(rand.Text()[:12])
	return "s3://" + bucket + "?endpoint=" + url.QueryEscape(endpoint) + "&region=us-east-1&path_style=true&create=true"
}
