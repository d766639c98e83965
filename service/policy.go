package service

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pixpool/pixpool"
)

// Policies reads and sets the storage policy (pixpool.Policy) that the
// admins set, kept in the store so that every replica applies the same.
type Policies struct {
	Store pixpool.SettingStore
}

// Get returns the policy, DefaultPolicy if none was set.
func (p *Policies) Get(ctx context.Context) (pixpool.Policy, error) {
	v, err := p.Store.Setting(ctx, pixpool.PolicySetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return pixpool.DefaultPolicy, nil
	} else if err != nil {
		return pixpool.Policy{}, err
	}
	pol := pixpool.DefaultPolicy
	if err := json.Unmarshal([]byte(v), &pol); err != nil {
		return pixpool.Policy{}, fmt.Errorf("storage policy setting: %w", err)
	}
	return pol, nil
}

// Set validates and stores pol.
func (p *Policies) Set(ctx context.Context, pol pixpool.Policy) error {
	if err := pol.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(pol)
	if err != nil {
		return err
	}
	return p.Store.SetSetting(ctx, pixpool.PolicySetting, string(b))
}
