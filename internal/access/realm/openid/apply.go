package openid

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// ApplyLogin finds or creates the user a login names in cfg. The user id
// is the identity's user name with "@realm" appended. A missing user is
// an error wrapping usercfg.ErrNotFound unless autocreate is set; then an
// enabled user carrying the e-mail address and names is added, and
// created reports that cfg changed and must be written back. Whether an
// existing user is enabled and unexpired is left to the ticket code,
// which checks that for every realm alike.
func ApplyLogin(cfg *usercfg.Config, realm string, id *Identity, autocreate bool) (userid string, created bool, err error) {
	userid = id.Username + "@" + realm
	if err := usercfg.ValidUserID(userid); err != nil {
		return "", false, fmt.Errorf("user id %q: %w", userid, err)
	}
	if _, ok := cfg.Users[userid]; ok {
		return userid, false, nil
	}
	if !autocreate {
		return "", false, fmt.Errorf("user %s %w", userid, usercfg.ErrNotFound)
	}
	u := usercfg.User{ID: userid, Enable: true, Firstname: id.Firstname, Lastname: id.Lastname, Email: id.Email}
	// user.cfg stores the address verbatim and cannot hold every string a
	// provider may send; a login should not fail over a profile detail.
	if usercfg.CheckUser(&u) != nil {
		u.Email = ""
	}
	if err := cfg.AddUser(u); err != nil {
		return "", false, fmt.Errorf("create user %s: %w", userid, err)
	}
	return userid, true, nil
}

// GroupIDs turns the group names a provider reports into Hearth group ids
// by appending "-realm", so that groups of different realms, and local
// groups, cannot collide. Names that do not give a valid group id are
// returned in invalid, for the caller to log. ids is sorted and has no
// duplicates.
func GroupIDs(realm string, names []string) (ids, invalid []string) {
	for _, n := range names {
		g := n + "-" + realm
		if usercfg.ValidGroupID(g) != nil {
			invalid = append(invalid, n)
			continue
		}
		ids = append(ids, g)
	}
	slices.Sort(ids)
	return slices.Compact(ids), invalid
}

// ApplyGroups makes userid a member of the groups named by the login, as
// the realm's groups-* options say: groups that do not exist are created
// if autocreate is set and skipped otherwise; overwrite drops the user's
// other group memberships first. warnings lists what was skipped. changed
// reports whether cfg was modified.
func ApplyGroups(cfg *usercfg.Config, realm, userid string, names []string, autocreate, overwrite bool) (changed bool, warnings []string, err error) {
	u, ok := cfg.Users[userid]
	if !ok {
		return false, nil, fmt.Errorf("user %s %w", userid, usercfg.ErrNotFound)
	}
	ids, invalid := GroupIDs(realm, names)
	for _, n := range invalid {
		warnings = append(warnings, fmt.Sprintf("group %q from the identity provider is not a valid group name; skipped", n))
	}
	var keep []string
	for _, g := range ids {
		if _, ok := cfg.Groups[g]; !ok {
			if !autocreate {
				warnings = append(warnings, fmt.Sprintf("group %s does not exist; skipped", g))
				continue
			}
			if err := cfg.AddGroup(usercfg.Group{ID: g}); err != nil && !errors.Is(err, usercfg.ErrExists) {
				return changed, warnings, fmt.Errorf("create group %s: %w", g, err)
			}
			changed = true
		}
		keep = append(keep, g)
	}
	before := slices.Clone(u.Groups)
	if err := cfg.SetUserGroups(userid, keep, !overwrite); err != nil {
		return changed, warnings, fmt.Errorf("set groups of %s: %w", userid, err)
	}
	return changed || !slices.Equal(before, cfg.Users[userid].Groups), warnings, nil
}
