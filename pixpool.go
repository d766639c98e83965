// Package pixpool is a self-hostable, multi-user image store with an elastic
// cache tier. The root package holds the domain types and the interfaces
// between the packages; each subfolder wraps one dependency or mechanism
// (store/sqlite, blob/fs, http, ...) and cmd/pixpool ties them together.
package pixpool

// Version is the release of this build. It is set at link time with
// -ldflags "-X github.com/pixpool/pixpool.Version=..." and defaults to "dev".
var Version = "dev"
