package ldap

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// SyncResult reports what a sync changed (or, in a dry run, would change).
// The id lists are sorted; Log has one human-readable line per change or
// skipped entry, in the order they happened.
type SyncResult struct {
	AddedUsers, UpdatedUsers, RemovedUsers    []string
	AddedGroups, UpdatedGroups, RemovedGroups []string
	Log                                       []string
}

// GroupID is the user.cfg id of a synced group. The realm suffix keeps
// synced groups apart from local ones and from those of other realms.
func GroupID(name, realm string) string { return name + "-" + realm }

// ApplySync brings the users and groups of realm in cfg in line with dir.
// attrs maps user.cfg fields to directory attributes (see
// Config.SyncAttributes); a field without a mapping comes from the
// attribute of the same name.
//
// Only users named "<name>@realm" and groups named "<name>-realm" are
// touched. Users and groups missing from dir are removed with
// remove-vanished=entry; their ACL entries go only with acl, so that
// an account that comes back keeps its permissions unless told otherwise
// (acl without entry drops the grants and keeps the account). With
// properties, fields the directory does not provide are cleared instead of
// kept; tokens and the enable flag always survive. A synced group's
// members from this realm are replaced by the directory's; members from
// other realms, added by hand, stay.
//
// Entries that cannot be stored (names user.cfg cannot hold, bad e-mail
// addresses) are skipped and logged. cfg is changed only when the whole
// sync succeeds and DryRun is not set.
func ApplySync(cfg *usercfg.Config, realm string, dir *Directory, attrs map[string]string, opt SyncOptions) (SyncResult, error) {
	var res SyncResult
	if err := usercfg.ValidRealm(realm); err != nil {
		return res, err
	}
	if dir == nil {
		return res, errors.New("sync: no directory data")
	}
	var doUsers, doGroups bool
	switch opt.Scope {
	case ScopeUsers:
		doUsers = true
	case ScopeGroups:
		doGroups = true
	case ScopeBoth:
		doUsers, doGroups = true, true
	default:
		return res, fmt.Errorf("sync: scope %q is not one of users, groups, both", opt.Scope)
	}
	s := &syncer{cfg: cloneConfig(cfg), realm: realm, opt: opt, attrs: attrs, res: &res}
	if doUsers {
		s.users(dir.Users)
	}
	if doGroups {
		s.groups(dir.Groups)
	}
	for _, l := range []*[]string{&res.AddedUsers, &res.UpdatedUsers, &res.RemovedUsers,
		&res.AddedGroups, &res.UpdatedGroups, &res.RemovedGroups} {
		slices.Sort(*l)
	}
	if !opt.DryRun {
		cfg.Users, cfg.Groups, cfg.ACL = s.cfg.Users, s.cfg.Groups, s.cfg.ACL
	}
	return res, nil
}

type syncer struct {
	cfg   *usercfg.Config // a copy; see ApplySync
	realm string
	opt   SyncOptions
	attrs map[string]string
	res   *SyncResult
}

func (s *syncer) logf(format string, args ...any) {
	s.res.Log = append(s.res.Log, fmt.Sprintf(format, args...))
}

func (s *syncer) ownUser(id string) bool {
	_, r, ok := usercfg.SplitUserID(id)
	return ok && r == s.realm
}

func (s *syncer) users(dirUsers []DirUser) {
	want := map[string]DirUser{}
	for _, u := range dirUsers {
		id := u.Name + "@" + s.realm
		if err := usercfg.ValidUserID(id); err != nil {
			s.logf("skipped user %q: %v", u.Name, err)
			continue
		}
		if _, dup := want[id]; dup {
			s.logf("skipped second directory entry for user %s (%s)", id, u.DN)
			continue
		}
		want[id] = u
	}

	for _, id := range slices.Sorted(maps.Keys(s.cfg.Users)) {
		if _, ok := want[id]; ok || !s.ownUser(id) {
			continue
		}
		match := userSubject(id)
		switch {
		case s.opt.Removes(VanishedEntry):
			held := collectGrants(s.cfg, match)
			if err := s.cfg.DeleteUser(id); err != nil {
				s.logf("could not remove user %s: %v", id, err)
				continue
			}
			if !s.opt.Removes(VanishedACL) {
				restoreGrants(s.cfg, held)
			}
			s.res.RemovedUsers = append(s.res.RemovedUsers, id)
			s.logf("removed user %s", id)
		case s.opt.Removes(VanishedACL):
			if dropGrants(s.cfg, match) {
				s.logf("removed ACL entries of vanished user %s", id)
			}
		}
	}

	for _, id := range slices.Sorted(maps.Keys(want)) {
		fields := s.userFields(id, want[id])
		old := s.cfg.Users[id]
		if old == nil {
			nu := usercfg.User{ID: id, Enable: s.opt.EnableNew}
			setFields(&nu, fields, true)
			if err := s.cfg.AddUser(nu); err != nil {
				s.logf("skipped user %s: %v", id, err)
				continue
			}
			s.res.AddedUsers = append(s.res.AddedUsers, id)
			s.logf("added user %s", id)
			continue
		}
		nu := *old
		setFields(&nu, fields, s.opt.Removes(VanishedProperties))
		if err := usercfg.CheckUser(&nu); err != nil {
			s.logf("did not update user %s: %v", id, err)
			continue
		}
		if sameFields(old, &nu) {
			continue
		}
		*old = nu
		s.res.UpdatedUsers = append(s.res.UpdatedUsers, id)
		s.logf("updated user %s", id)
	}
}

// userFields picks the directory's values for the user.cfg fields.
func (s *syncer) userFields(id string, u DirUser) map[string]string {
	out := map[string]string{}
	for _, f := range syncFields {
		attr := f
		if a := s.attrs[f]; a != "" {
			attr = a
		}
		v, ok := u.Attrs[strings.ToLower(attr)]
		if !ok {
			continue
		}
		if f == "expire" {
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
				s.logf("user %s: ignored %s %q: not a Unix time", id, attr, v)
				continue
			}
		}
		out[f] = v
	}
	return out
}

// setFields copies the synced fields into u. With reset, fields the
// directory did not provide are cleared.
func setFields(u *usercfg.User, fields map[string]string, reset bool) {
	for _, f := range syncFields {
		v, ok := fields[f]
		if !ok && !reset {
			continue
		}
		switch f {
		case "firstname":
			u.Firstname = v
		case "lastname":
			u.Lastname = v
		case "email":
			u.Email = v
		case "comment":
			u.Comment = v
		case "keys":
			u.Keys = v
		case "expire":
			u.Expire, _ = strconv.ParseInt(v, 10, 64) // checked in userFields; "" gives 0
		}
	}
}

func sameFields(a, b *usercfg.User) bool {
	return a.Firstname == b.Firstname && a.Lastname == b.Lastname && a.Email == b.Email &&
		a.Comment == b.Comment && a.Keys == b.Keys && a.Expire == b.Expire
}

func (s *syncer) groups(dirGroups []DirGroup) {
	suffix := "-" + s.realm
	want := map[string]DirGroup{}
	for _, g := range dirGroups {
		id := GroupID(g.Name, s.realm)
		if err := usercfg.ValidGroupID(id); err != nil {
			s.logf("skipped group %q: %v", g.Name, err)
			continue
		}
		if _, dup := want[id]; dup {
			s.logf("skipped second directory entry for group %s (%s)", id, g.DN)
			continue
		}
		want[id] = g
	}

	for _, id := range slices.Sorted(maps.Keys(s.cfg.Groups)) {
		if _, ok := want[id]; ok || !strings.HasSuffix(id, suffix) {
			continue
		}
		match := groupSubject(id)
		switch {
		case s.opt.Removes(VanishedEntry):
			held := collectGrants(s.cfg, match)
			if err := s.cfg.DeleteGroup(id); err != nil {
				s.logf("could not remove group %s: %v", id, err)
				continue
			}
			if !s.opt.Removes(VanishedACL) {
				restoreGrants(s.cfg, held)
			}
			s.res.RemovedGroups = append(s.res.RemovedGroups, id)
			s.logf("removed group %s", id)
		case s.opt.Removes(VanishedACL):
			if dropGrants(s.cfg, match) {
				s.logf("removed ACL entries of vanished group %s", id)
			}
		}
	}

	for _, id := range slices.Sorted(maps.Keys(want)) {
		var members []string
		missing := 0
		for _, name := range want[id].Members {
			uid := name + "@" + s.realm
			if _, ok := s.cfg.Users[uid]; ok {
				members = append(members, uid)
			} else {
				missing++
			}
		}
		if missing > 0 {
			s.logf("group %s: %d member(s) not in user.cfg left out (sync users first)", id, missing)
		}
		old := s.cfg.Groups[id]
		if old == nil {
			if err := s.cfg.AddGroup(usercfg.Group{ID: id, Members: members}); err != nil {
				s.logf("skipped group %s: %v", id, err)
				continue
			}
			s.res.AddedGroups = append(s.res.AddedGroups, id)
			s.logf("added group %s", id)
			continue
		}
		if s.updateMembers(old, members) {
			s.res.UpdatedGroups = append(s.res.UpdatedGroups, id)
			s.logf("updated group %s", id)
		}
	}
}

// updateMembers makes members the group's members from this realm and
// reports whether anything changed. With properties the comment, which
// the directory never supplies, is cleared as well.
func (s *syncer) updateMembers(g *usercfg.Group, members []string) bool {
	changed := false
	if s.opt.Removes(VanishedProperties) && g.Comment != "" {
		g.Comment = ""
		changed = true
	}
	for _, uid := range slices.Clone(g.Members) {
		if s.ownUser(uid) && !slices.Contains(members, uid) {
			changed = true
			// Both lists stay sorted when an element is deleted.
			g.Members = slices.DeleteFunc(g.Members, func(x string) bool { return x == uid })
			if u := s.cfg.Users[uid]; u != nil {
				u.Groups = slices.DeleteFunc(u.Groups, func(x string) bool { return x == g.ID })
			}
		}
	}
	for _, uid := range members {
		if !slices.Contains(g.Members, uid) {
			_ = s.cfg.SetUserGroups(uid, []string{g.ID}, true) // both exist: checked by the caller
			changed = true
		}
	}
	return changed
}

// subjectMatch selects ACL grants by subject.
type subjectMatch func(kind usercfg.SubjectKind, id string) bool

// userSubject matches a user's own grants and those of its tokens.
func userSubject(uid string) subjectMatch {
	return func(kind usercfg.SubjectKind, id string) bool {
		switch kind {
		case usercfg.SubjectUser:
			return id == uid
		case usercfg.SubjectToken:
			owner, _, _ := usercfg.SplitTokenID(id)
			return owner == uid
		}
		return false
	}
}

func groupSubject(gid string) subjectMatch {
	return func(kind usercfg.SubjectKind, id string) bool { return kind == usercfg.SubjectGroup && id == gid }
}

// heldGrant is a copy of one subject's grants on one path.
type heldGrant struct {
	path   string
	kind   usercfg.SubjectKind
	id     string
	grants usercfg.Grants
}

var subjectKinds = []usercfg.SubjectKind{usercfg.SubjectUser, usercfg.SubjectGroup, usercfg.SubjectToken}

// grantMap returns the grants of one kind of subject on a path, creating
// the map when asked.
func grantMap(a *usercfg.PathACL, kind usercfg.SubjectKind, create bool) map[string]usercfg.Grants {
	ptr := &a.Users
	switch kind {
	case usercfg.SubjectGroup:
		ptr = &a.Groups
	case usercfg.SubjectToken:
		ptr = &a.Tokens
	}
	if *ptr == nil && create {
		*ptr = map[string]usercfg.Grants{}
	}
	return *ptr
}

func collectGrants(cfg *usercfg.Config, match subjectMatch) []heldGrant {
	var out []heldGrant
	for path, a := range cfg.ACL {
		for _, kind := range subjectKinds {
			for id, g := range grantMap(a, kind, false) {
				if match(kind, id) {
					out = append(out, heldGrant{path, kind, id, maps.Clone(g)})
				}
			}
		}
	}
	return out
}

// restoreGrants puts back grants that deleting a user or group dropped.
func restoreGrants(cfg *usercfg.Config, held []heldGrant) {
	for _, h := range held {
		a := cfg.ACL[h.path]
		if a == nil {
			a = &usercfg.PathACL{}
			cfg.ACL[h.path] = a
		}
		grantMap(a, h.kind, true)[h.id] = h.grants
	}
}

// dropGrants removes the matching grants, pruning emptied paths, and
// reports whether there were any.
func dropGrants(cfg *usercfg.Config, match subjectMatch) bool {
	dropped := false
	for path, a := range cfg.ACL {
		for _, kind := range subjectKinds {
			m := grantMap(a, kind, false)
			for id := range m {
				if match(kind, id) {
					delete(m, id)
					dropped = true
				}
			}
		}
		if len(a.Users) == 0 && len(a.Groups) == 0 && len(a.Tokens) == 0 {
			delete(cfg.ACL, path)
		}
	}
	return dropped
}

// cloneConfig copies what a sync may change (users, groups, ACL) deeply,
// so that a failed or dry run leaves the caller's config alone. Pools and
// roles are shared: a sync never touches them.
func cloneConfig(c *usercfg.Config) *usercfg.Config {
	n := *c
	n.Users = make(map[string]*usercfg.User, len(c.Users))
	for id, u := range c.Users {
		cu := *u
		cu.Groups = slices.Clone(u.Groups)
		cu.Tokens = make(map[string]*usercfg.Token, len(u.Tokens))
		for name, t := range u.Tokens {
			ct := *t
			cu.Tokens[name] = &ct
		}
		n.Users[id] = &cu
	}
	n.Groups = make(map[string]*usercfg.Group, len(c.Groups))
	for id, g := range c.Groups {
		cg := *g
		cg.Members = slices.Clone(g.Members)
		n.Groups[id] = &cg
	}
	n.ACL = make(map[string]*usercfg.PathACL, len(c.ACL))
	for path, a := range c.ACL {
		ca := &usercfg.PathACL{}
		for _, kind := range subjectKinds {
			src := grantMap(a, kind, false)
			if src == nil {
				continue
			}
			dst := grantMap(ca, kind, true)
			for id, g := range src {
				dst[id] = maps.Clone(g)
			}
		}
		n.ACL[path] = ca
	}
	return &n
}
