package pixpool

// PoolStateSetting names the setting in which the cache pool's manager
// keeps the pool's state (manager.State, as JSON). A backup carries it, a
// restore leaves the running pool's in place and applies the backup's
// configuration from it instead (manager.Manager.AfterRestore); it is
// named here so that backup need not import the manager.
const PoolStateSetting = "pool.state"
