package service

import "syscall"

// lowerThreadPriority adds by to the nice value of the calling OS thread
// only: on Linux, setpriority with a thread id applies to that thread, and
// processes it starts inherit it. The caller must be locked to its thread.
func lowerThreadPriority(by int) error {
	tid := syscall.Gettid()
	// The raw system call returns 20 - nice.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	return syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(20-p+by, 19))
}
