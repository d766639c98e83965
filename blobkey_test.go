package pixpool_test

import (
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestValidateBlobKey(t *testing.T) {
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"img/ab/cdef.jpg", true},
		{"0-9_a.b-c", true},
		{"a..b/c.", true},
		{"-a/_b", true},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a/", 511) + "aa", true},
		{"", false},
		{".", false},
		{"..", false},
		{".tmp", false},
		{".tmp/put-1", false},
		{"a/.b", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a/../b", false},
		{`a\b`, false},
		{"Ab", false},
		{"a b", false},
		{"\u00e9", false},
		{"a\x00", false},
		{strings.Repeat("a", 256), false},
		{strings.Repeat("a/", 512) + "a", false},
	} {
		err := pixpool.ValidateBlobKey(tt.key)
		if tt.ok && err != nil {
			t.Errorf("pixpool.ValidateBlobKey(%.40q)=%v, want nil", tt.key, err)
		}
		if !tt.ok && pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Errorf("pixpool.ValidateBlobKey(%.40q)=%v, want code %s", tt.key, err, pixpool.EINVALID)
		}
	}
}
