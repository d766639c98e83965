package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pool"
)

// cacheAuthEnv gives the user and password of the nodes of --cache-nodes
// without a file: "user:password", as a line of --cache-auth-file.
const cacheAuthEnv = "PIXPOOL_CACHE_AUTH"

// staticCacheAuth returns the credential for the nodes of --cache-nodes:
// the first line of file (memcached's -Y format, so the nodes' own file
// will do) or else PIXPOOL_CACHE_AUTH; none if neither is set.
func staticCacheAuth(file string) (*cache.Credential, error) {
	var creds []cache.Credential
	var err error
	env, inEnv := os.LookupEnv(cacheAuthEnv)
	switch {
	case file != "" && inEnv:
		return nil, fmt.Errorf("give --cache-auth-file or %s, not both", cacheAuthEnv)
	case file != "":
		creds, err = cache.ReadAuthFile(file)
	case inEnv:
		if creds, err = cache.ParseAuthFile([]byte(env)); err != nil {
			err = fmt.Errorf("%s: %w", cacheAuthEnv, err)
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &creds[0], nil
}

// setPoolAuth gives a pool client, made outside serve (pixpool pool,
// restore), the credentials of nodes: the pool's secret from the store for
// the local nodes of a server, else those of --cache-auth-file or
// PIXPOOL_CACHE_AUTH for the nodes of --cache-nodes (whose id is their
// address).
func setPoolAuth(ctx context.Context, client *pool.Client, st pixpool.Store, nodes []pool.NodeInfo, authFile string) error {
	local := false
	for _, n := range nodes {
		local = local || n.ID != n.Addr
	}
	if local {
		secret, err := st.Setting(ctx, manager.SecretSetting)
		if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			return nil // nodes of a version without secrets
		} else if err != nil {
			return err
		}
		client.SetAuth(pool.DefaultUser, secret)
		return nil
	}
	cred, err := staticCacheAuth(authFile)
	if err != nil {
		return err
	}
	if cred != nil {
		client.SetAuth(cred.User, cred.Password)
	}
	return nil
}

var errCacheAuthUnused = errors.New("--cache-auth-file and " + cacheAuthEnv + " are for --cache-nodes; serve's own nodes use the pool's secret")
