package pixpool_test

import (
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		// URLs with user information.
		{"postgres://pixpool:s3cret@db:5432/pixpool", "postgres://pixpool:***@db:5432/pixpool"},
		{"postgresql://pixpool:s3cret@db/pixpool?sslmode=require", "postgresql://pixpool:***@db/pixpool?sslmode=require"},
		{"postgres://u:p%40ss@db/x", "postgres://u:***@db/x"},
		{"postgres://u:pa@ss@db/x", "postgres://u:***@db/x"},
		{"postgres://u:pa/ss?@db/x", "postgres://u:***@db/x"},
		{"https://AKIAEXAMPLE:s3cret@s3.example.org/bucket", "https://AKIAEXAMPLE:***@s3.example.org/bucket"},
		{"postgres://pixpool@db/pixpool", "postgres://pixpool@db/pixpool"},
		// Secrets in a URL's query.
		{"postgres://db/x?password=s3cret&sslmode=require", "postgres://db/x?password=***&sslmode=require"},
		{"postgres://u@db/x?sslmode=verify-full&sslpassword=s3cret", "postgres://u@db/x?sslmode=verify-full&sslpassword=***"},
		{"s3://bucket?endpoint=http://127.0.0.1:9000&secret_key=s3cret&region=x", "s3://bucket?endpoint=http://127.0.0.1:9000&secret_key=***&region=x"},
		{"https://h/o?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc#f", "https://h/o?X-Amz-Credential=***&X-Amz-Signature=***#f"},
		{"postgres://u:a@db/x?password=b", "postgres://u:***@db/x?password=***"},
		// key=value connection strings.
		{"host=db password=s3cret user=x", "host=db password=*** user=x"},
		{"host=db password='a b' user=x", "host=db password=*** user=x"},
		{`password='it\'s s3cret' dbname=x`, "password=*** dbname=x"},
		{"password = s3cret dbname=x", "password = *** dbname=x"},
		{`password=a\ b dbname=x`, "password=*** dbname=x"},
		{"host=db sslpassword=s3cret sslkey=/k", "host=db sslpassword=*** sslkey=***"},
		{"password='unterminated s3cret", "password=***"},
		{"PASSWORD=s3cret", "PASSWORD=***"},
		// Nothing to hide.
		{"host=db user=x dbname=y sslmode=disable", "host=db user=x dbname=y sslmode=disable"},
		{"sqlite:/data/pixpool.db", "sqlite:/data/pixpool.db"},
		{"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1", "s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1"},
		{"mysql-ish", "mysql-ish"},
		{"", ""},
	} {
		got := pixpool.Redact(tt.in)
		if got != tt.want {
			t.Errorf("Redact(%q)=%q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3cret") || strings.Contains(got, "ss@") {
			t.Errorf("Redact(%q)=%q shows the secret", tt.in, got)
		}
	}
}
