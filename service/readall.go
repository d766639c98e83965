package service

import "io"

// readAllLimited reads a blob whole and closes it.
func readAllLimited(rc io.ReadCloser) ([]byte, error) {
	defer rc.Close()
	return io.ReadAll(rc)
}
