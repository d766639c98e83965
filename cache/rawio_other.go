//go:build !linux

package cache

import "net"

// rawIO is Linux-only (see rawio_linux.go); elsewhere connections use the
// plain net.Conn calls.
type rawIO struct{}

func newRawIO(net.Conn) *rawIO { return nil }

func (*rawIO) read([]byte) (int, error)       { panic("unreachable") }
func (*rawIO) writev([][]byte) (int64, error) { panic("unreachable") }
