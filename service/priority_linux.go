package service

import "syscall"

// lowerThreadPriority sets the nice value of the calling OS thread only:
// on Linux, setpriority with a thread id applies to that thread, and
// processes it starts inherit it. The caller must be locked to its thread.
func lowerThreadPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
