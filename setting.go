package pixpool

import "context"

// SettingStore keeps named settings, such as the pool's state and the
// sign-up mode, shared by every process using the store (part of Store).
type SettingStore interface {
	// Setting returns a named setting's value.
	Setting(ctx context.Context, name string) (string, error)
	// SetSetting creates or replaces a setting.
	SetSetting(ctx context.Context, name, value string) error
	// AddSetting creates a setting unless one of that name exists, and
	// returns the value stored after the call: value, or the one already
	// there. A secret made on first use (a signing key) is stored with it,
	// so that replicas making one at the same moment all end up using the
	// one that won rather than each signing with its own until one
	// overwrites the others, which would kill what the others signed.
	AddSetting(ctx context.Context, name, value string) (stored string, err error)
	// DeleteSetting removes a setting; a missing one is not an error.
	DeleteSetting(ctx context.Context, name string) error
	// Settings returns every setting by name.
	Settings(ctx context.Context) (map[string]string, error)
}

// PoolStateSetting names the setting in which the cache pool's manager
// keeps the pool's state (manager.State, as JSON). A backup carries it, a
// restore leaves the running pool's in place and applies the backup's
// configuration from it instead (manager.Manager.AfterRestore); it is
// named here so that backup need not import the manager.
const PoolStateSetting = "pool.state"
