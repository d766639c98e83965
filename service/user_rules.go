package service

import (
	"context"

	"github.com/pixpool/pixpool"
)

// SetUserAdmin grants (admin true) or removes user id's admin rights on
// behalf of actor, for the admin portal and /api/v1/admin. Admins cannot
// demote themselves, and the last admin stays one. A missing user is
// ENOTFOUND; a refusal EINVALID.
func (a *Accounts) SetUserAdmin(ctx context.Context, actor *pixpool.User, id int64, admin bool) (*pixpool.User, error) {
	u, err := a.target(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Admin == admin {
		return u, nil
	}
	if !admin {
		if u.ID == actor.ID {
			return nil, pixpool.Errorf(pixpool.EINVALID, "You cannot remove your own admin rights; another admin can.")
		}
		// Not atomic with the update; but as nobody can demote themselves,
		// the actor stays an admin but in a race of two admins demoting
		// each other at the same moment.
		n, err := a.Store.CountAdmins(ctx)
		if err != nil {
			return nil, err
		}
		if n <= 1 {
			return nil, pixpool.Errorf(pixpool.EINVALID, "%s is the last admin; make another user an admin first.", u.Username)
		}
	}
	u.Admin = admin
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	a.logger().Info("user admin rights changed", "user", u.Username, "admin", admin, "by", actor.Username)
	return u, nil
}

// SetUserDisabled disables or enables user id on behalf of actor, for the
// admin portal and /api/v1/admin. A disabled user's sessions are
// deleted, and their API keys stop working because authentication checks
// the flag. Admins cannot disable themselves. A missing user is ENOTFOUND.
func (a *Accounts) SetUserDisabled(ctx context.Context, actor *pixpool.User, id int64, disabled bool) (*pixpool.User, error) {
	if disabled && id == actor.ID {
		return nil, errDisableSelf
	}
	u, err := a.target(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Disabled != disabled {
		u.Disabled = disabled
		if err := a.Store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
	}
	if disabled {
		if err := a.Store.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return nil, err
		}
	}
	a.logger().Info("user disabled state changed", "user", u.Username, "disabled", disabled, "by", actor.Username)
	return u, nil
}

// SetUserFlags sets user id's admin rights and disabled state, either nil
// to leave it, on behalf of actor (SetUserAdmin, then SetUserDisabled),
// and returns the user. Disabling oneself is refused before anything
// changes. A missing user is ENOTFOUND; a refusal EINVALID.
func (a *Accounts) SetUserFlags(ctx context.Context, actor *pixpool.User, id int64, admin, disabled *bool) (*pixpool.User, error) {
	if disabled != nil && *disabled && id == actor.ID {
		return nil, errDisableSelf
	}
	u, err := a.target(ctx, id)
	if err != nil {
		return nil, err
	}
	if admin != nil {
		if u, err = a.SetUserAdmin(ctx, actor, id, *admin); err != nil {
			return nil, err
		}
	}
	if disabled != nil {
		if u, err = a.SetUserDisabled(ctx, actor, id, *disabled); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// target reads user id, the target of an admin's change; a missing one
// is ENOTFOUND "No such user.".
func (a *Accounts) target(ctx context.Context, id int64) (*pixpool.User, error) {
	u, err := a.Store.User(ctx, id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	}
	return u, err
}

var errDisableSelf = pixpool.Errorf(pixpool.EINVALID, "You cannot disable your own account.")
