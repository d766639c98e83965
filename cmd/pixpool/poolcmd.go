package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pool"
)

const poolUsage = `usage: pixpool pool [--data DIR] COMMAND
  status           nodes with their stats, capacity, policy
  resize N         grow or shrink the pool to N nodes (keys move to their new nodes)
  capacity MB      set every node's capacity
  policy lru|rr    set every node's replacement policy (contents are kept)
  clear            empty every node
  keys NODE        a node's keys in LRU order, least recently used first
Changes go to the running server through its database; it answers within seconds.`

// runPool is the command line of the pool's Go API: it reads the pool's
// state from the data folder and asks the running server for changes.
func runPool(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStoreFlags(fs)
	limit := fs.Int("limit", 100, "with keys: at most this many (0: all)")
	authFile := fs.String("cache-auth-file", "", "with status and keys: user:password file of the nodes of serve's --cache-nodes (or "+cacheAuthEnv+"); serve's own nodes need none")
	fs.Usage = func() { fmt.Fprintln(stderr, poolUsage) }
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New(poolUsage)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	ask := func(op string, nargs int) error {
		if len(rest) != nargs {
			return errors.New(poolUsage)
		}
		arg := ""
		if nargs == 1 {
			arg = rest[0]
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		res, err := manager.Ask(actx, st, op, arg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ok: %d nodes, %d MB each, %s\n", len(res.State.Nodes), res.State.CapacityMB, res.State.Policy)
		return nil
	}
	switch cmd {
	case "resize":
		return ask("resize", 1)
	case "capacity":
		return ask("capacity", 1)
	case "policy":
		return ask("policy", 1)
	case "clear":
		return ask("clear", 0)
	}

	state, err := manager.LoadState(ctx, st)
	if err != nil {
		return err
	}
	client := &pool.Client{Logger: discardLogger()}
	defer client.Close()
	if err := setPoolAuth(ctx, client, st, state.Nodes, *authFile); err != nil {
		return err
	}
	client.SetLayout(state.Epoch, state.Nodes)
	switch cmd {
	case "status":
		fmt.Fprintf(stdout, "%d nodes, %d MB each, policy %s, layout epoch %d\n\n", len(state.Nodes), state.CapacityMB, state.Policy, state.Epoch)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tADDRESS\tUP\tITEMS\tBYTES\tCAPACITY\tHITS\tMISSES\tHIT RATE\tREQ/5s")
		for _, s := range client.Stats(ctx) {
			rate := "-"
			if s.Hits+s.Misses > 0 {
				rate = strconv.FormatFloat(100*float64(s.Hits)/float64(s.Hits+s.Misses), 'f', 1, 64) + "%"
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%d\t%d\t%d\t%s\t%d\n", s.ID, s.Addr, s.Up, s.Items, s.Bytes, s.Capacity, s.Hits, s.Misses, rate, s.RequestsLast5s)
		}
		return tw.Flush()
	case "keys":
		if len(rest) != 1 {
			return errors.New(poolUsage)
		}
		keys, err := client.Keys(ctx, rest[0])
		if err != nil {
			return userErr(err)
		}
		if *limit > 0 && len(keys) > *limit {
			keys = keys[:*limit]
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tSIZE\tLAST ACCESS")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", k.Key, k.Size, k.LastAccess.Format(time.RFC3339))
		}
		return tw.Flush()
	}
	return errors.New(poolUsage)
}
