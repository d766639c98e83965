package http

import (
	"os"
	"testing"

	"github.com/pixpool/pixpool/pixpooltest"
)

// TestMain lets a manager's local provider run this test binary as a cache
// node, so the admin tests can resize a real pool of child processes.
func TestMain(m *testing.M) {
	pixpooltest.RunCacheNodeIfAsked()
	os.Exit(m.Run())
}
