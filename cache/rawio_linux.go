package cache

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a socket with syscall.RawSyscall inside the
// callbacks of syscall.RawConn, which still waits for readiness through the
// netpoller (so deadlines and Close work as usual).
//
// Why: a plain Read or Write enters the scheduler's syscall state, and a
// syscall longer than sysmon's tick (about 20µs: a 100 KB writev on
// loopback) makes the runtime hand the P to another thread, waking it with
// a futex, and costs the returning thread a slow path too. On a
// non-blocking socket the call cannot block, so that handoff is pure
// overhead; profiles of 100 KB gets showed it (see docs/cachenode.md).
// rawIO is used by one goroutine at a time.
type rawIO struct {
	rc syscall.RawConn

	// State of the call in progress, for the callbacks (bound once, so a
	// call allocates nothing).
	p       []byte   // read destination
	segs    [][]byte // write: what is left to write
	iov     []syscall.Iovec
	n       int
	errno   syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// newRawIO returns nil if nc does not expose its file descriptor.
func newRawIO(nc net.Conn) *rawIO {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{rc: rc}
	r.readFn = r.doRead
	r.writeFn = r.doWrite
	return r
}

func (r *rawIO) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p, r.n, r.errno = p, 0, 0
	err := r.rc.Read(r.readFn)
	n := r.n
	r.p = nil
	switch {
	case err != nil:
		return n, err
	case r.errno != 0:
		return n, r.errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (r *rawIO) doRead(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.p[0])), uintptr(len(r.p)))
		switch e {
		case 0:
			r.n = int(n)
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until readable, then call again
		default:
			r.errno = e
		}
		return true
	}
}

// writev writes all of bufs.
func (r *rawIO) writev(bufs [][]byte) (int64, error) {
	r.segs, r.n, r.errno = bufs, 0, 0
	err := r.rc.Write(r.writeFn)
	clear(r.iov[:cap(r.iov)]) // drop the references to values
	n := int64(r.n)
	r.segs = nil
	if err == nil && r.errno != 0 {
		err = r.errno
	}
	return n, err
}

func (r *rawIO) doWrite(fd uintptr) bool {
	for len(r.segs) > 0 {
		iov := r.iov[:0]
		for _, b := range r.segs {
			if len(iov) == 1024 { // IOV_MAX
				break
			}
			if len(b) > 0 {
				v := syscall.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				iov = append(iov, v)
			}
		}
		r.iov = iov
		if len(iov) == 0 {
			r.segs = nil
			break
		}
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until writable, then call again
		default:
			r.errno = e
			return true
		}
		r.n += int(n)
		for n > 0 {
			if l := uintptr(len(r.segs[0])); l <= n {
				n -= l
				r.segs = r.segs[1:]
			} else {
				r.segs[0] = r.segs[0][n:]
				n = 0
			}
		}
		for len(r.segs) > 0 && len(r.segs[0]) == 0 {
			r.segs = r.segs[1:]
		}
	}
	return true
}
