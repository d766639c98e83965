package s3

import (
	"strings"

	"github.com/pixpool/pixpool"
)

// prefixCanMatch reports whether some valid key starts with prefix. List
// sends only such prefixes to the server: the others match nothing anyway,
// and a server on a file system need not see "../" or "/".
func prefixCanMatch(prefix string) bool {
	if prefix == "" {
		return true
	}
	if len(prefix) >= pixpool.MaxBlobKeyLen && (len(prefix) > pixpool.MaxBlobKeyLen || pixpool.ValidateBlobKey(prefix) != nil) {
		return false
	}
	// Every whole segment must be valid, and the last, partial one a valid
	// start of a segment (or empty, after a trailing slash).
	whole, last := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		whole, last = prefix[:i], prefix[i+1:]
		if pixpool.ValidateBlobKey(whole) != nil {
			return false
		}
	}
	if last == "" {
		return true
	}
	return pixpool.ValidateBlobKey(last) == nil
}
