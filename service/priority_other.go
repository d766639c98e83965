//go:build !linux

package service

// lowerThreadPriority does nothing where threads have no nice value of
// their own; analysis then runs at the process's priority.
func lowerThreadPriority(by int) error { return nil }
