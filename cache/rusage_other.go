//go:build !unix

package cache

import "time"

// rusage is not available here; stats report zero.
func rusage() (user, sys time.Duration) { return 0, 0 }
