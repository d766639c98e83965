package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pool"
)

// A restore replaces every setting but the running pool's own
// (pixpool.PoolStateSetting among them, see backup.KeepOnRestore); the
// backup's pool configuration is then applied by AfterRestore in serve,
// and by StoreRestore from the command line.

// AfterRestore is serve's backup.Service.AfterRestore: it applies the
// backup's cache capacity, policy and mode to the running pool (a follower
// forwards them to the leader) and clears the cache, so no image is served
// from before the restore.
func (m *Manager) AfterRestore(ctx context.Context, settings map[string]string) error {
	var problems []string
	if st, ok, err := restoredState(settings); err != nil {
		problems = append(problems, err.Error())
	} else if ok {
		if st.CapacityMB > 0 {
			if err := m.SetCapacity(ctx, st.CapacityMB); err != nil {
				problems = append(problems, "The backup's cache capacity was not applied: "+errorText(err))
			}
		}
		if st.Policy != "" {
			if err := m.SetPolicy(ctx, st.Policy); err != nil {
				problems = append(problems, "The backup's cache policy was not applied: "+errorText(err))
			}
		}
		if st.Mode != "" {
			if err := m.SetMode(ctx, st.Mode, st.Auto); err != nil {
				problems = append(problems, "The backup's pool mode was not applied: "+errorText(err))
			}
		}
	}
	if err := m.Clear(ctx); err != nil {
		problems = append(problems, "The cache was not cleared, so it may serve images from before the restore until they are evicted: "+errorText(err))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, " "))
	}
	return nil
}

// restoredState reads the pool state a backup's settings carry; ok is
// false if there is none (a backup of a server without a cache).
func restoredState(settings map[string]string) (st State, ok bool, err error) {
	v, ok := settings[pixpool.PoolStateSetting]
	if !ok {
		return st, false, nil
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, false, fmt.Errorf("The backup's cache pool configuration could not be read (%v), so it was not applied.", err)
	}
	return st, true, nil
}

// errorText is an error as a warning shows it: a user-facing message
// alone, anything else whole (admins read warnings).
func errorText(err error) string {
	if pixpool.ErrorCode(err) != pixpool.EINTERNAL {
		return pixpool.ErrorMessage(err)
	}
	return err.Error()
}

// StoreRestore applies a restored backup's pool configuration from a
// process that runs no pool (pixpool backup restore): through the running
// server's manager if there is one (as Ask does), else into the stored
// pool state for the next serve. Use it as backup.Service.AfterRestore.
type StoreRestore struct {
	Store pixpool.Store
	// Running reports whether a server runs the cache pool (holds its
	// leader lease).
	Running func(ctx context.Context) (bool, error)
	// Auth gives a pool client the credentials of nodes given by address
	// (--cache-nodes), to clear them when no server runs. If nil, the
	// client has none.
	Auth func(ctx context.Context, client *pool.Client, nodes []pool.NodeInfo) error
	// Note says what was done, for the output, once AfterRestore returns.
	Note string
}

// askTimeout bounds each request of a restore to the running server: it
// answers within a second unless it is gone.
const askTimeout = 30 * time.Second

// AfterRestore applies the backup's pool settings and clears the cache:
// through the running server, or, with none, for the next serve.
func (c *StoreRestore) AfterRestore(ctx context.Context, settings map[string]string) error {
	var problems []string
	st, ok, err := restoredState(settings)
	if err != nil {
		problems = append(problems, err.Error())
	}
	running, err := c.Running(ctx)
	if err != nil {
		return fmt.Errorf("Could not tell whether a server runs the cache pool: %v. Clear the cache (pixpool pool clear) and check its settings.", err)
	}
	if !running {
		return c.keepForNextServe(ctx, st, ok, problems)
	}
	ask := func(op, arg, what string) bool {
		actx, cancel := context.WithTimeout(ctx, askTimeout)
		defer cancel()
		_, err := Ask(actx, c.Store, op, arg)
		if err != nil && actx.Err() != nil {
			return false // no answer: the server is gone
		}
		if err != nil {
			problems = append(problems, what+": "+err.Error())
		}
		return true
	}
	answered := true
	if ok {
		if st.CapacityMB > 0 {
			answered = ask("capacity", strconv.Itoa(st.CapacityMB), "The backup's cache capacity was not applied")
		}
		if answered && st.Policy != "" {
			answered = ask("policy", st.Policy, "The backup's cache policy was not applied")
		}
		if answered && st.Mode != "" {
			arg, _ := json.Marshal(modeRequest{Mode: st.Mode, Auto: st.Auto})
			answered = ask("mode", string(arg), "The backup's pool mode was not applied")
		}
	}
	if answered {
		answered = ask("clear", "", "The cache was not cleared, so it may serve images from before the restore until they are evicted")
	}
	if !answered {
		return c.keepForNextServe(ctx, st, ok, problems)
	}
	switch {
	case len(problems) > 0:
		c.Note = "the running server was asked to apply the backup's pool settings and clear the cache; see the warnings"
	case ok:
		c.Note = "the running server applied the backup's pool settings and cleared the cache"
	default:
		c.Note = "the running server cleared the cache (the backup holds no pool settings)"
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, " "))
	}
	return nil
}

// keepForNextServe keeps the backup's pool configuration, if any, in the stored
// pool state (with its nodes) for the next serve, no cache pool running.
// Existing nodes of a fixed pool (--cache-nodes) outlive the server: they
// are cleared here.
func (c *StoreRestore) keepForNextServe(ctx context.Context, st State, ok bool, problems []string) error {
	cur, err := LoadState(ctx, c.Store)
	if err != nil {
		return errors.New(strings.Join(append(problems, fmt.Sprintf("The backup's pool settings were not stored: %v.", err)), " "))
	}
	if ok {
		if st.CapacityMB > 0 {
			cur.CapacityMB = st.CapacityMB
		}
		if p, err := ParsePolicy(st.Policy); err == nil {
			cur.Policy = p
		}
		if st.Mode == ModeManual || st.Mode == ModeAuto {
			cur.Mode, cur.Auto = st.Mode, st.Auto
		}
		b, err := json.Marshal(cur)
		if err == nil {
			err = c.Store.SetSetting(ctx, pixpool.PoolStateSetting, string(b))
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("The backup's pool settings were not stored: %v.", err))
		}
	}
	c.Note = "no cache pool was running, so there was no cache to clear"
	if ok {
		c.Note = fmt.Sprintf("no cache pool was running, so there was no cache to clear; the next pixpool serve runs it with the backup's settings (%d MB per node, %s, %s mode)",
			cur.CapacityMB, cur.Policy, cur.Mode)
	}
	// Nodes given by address (their id) are not the server's own processes.
	var fixed []pool.NodeInfo
	for _, n := range cur.Nodes {
		if n.ID == n.Addr {
			fixed = append(fixed, n)
		}
	}
	if len(fixed) > 0 {
		client := &pool.Client{Logger: slog.New(slog.DiscardHandler)}
		if c.Auth != nil {
			if err := c.Auth(ctx, client, fixed); err != nil {
				problems = append(problems, fmt.Sprintf("The cache nodes' credentials: %v.", err))
			}
		}
		client.SetLayout(cur.Epoch, fixed)
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := client.Flush(fctx)
		cancel()
		client.Close()
		if err != nil {
			problems = append(problems, fmt.Sprintf("The cache nodes could not all be cleared (%v): clear them (pixpool pool clear) once a server runs.", err))
		} else {
			c.Note += fmt.Sprintf("; the %d cache nodes of --cache-nodes were cleared", len(fixed))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, " "))
	}
	return nil
}
