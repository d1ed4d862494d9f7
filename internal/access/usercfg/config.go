package usercfg

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hearth-virt/hearth/internal/access/privs"
)

// Config is the content of user.cfg. The maps are keyed by id and never
// nil in a Config from New or Parse. Group.Members is the source of truth
// for membership; User.Groups mirrors it for convenience and is kept in
// step by Parse and the mutation helpers (Bytes reads only Members).
type Config struct {
	Users  map[string]*User
	Groups map[string]*Group
	Pools  map[string]*Pool
	// Roles holds the custom roles only; built-in roles live in package
	// privs and are never stored or written.
	Roles map[string]*Role
	// ACL maps a normalised path to the grants made on it.
	ACL map[string]*PathACL
}

// User is one user record with its API tokens.
type User struct {
	ID     string // name@realm
	Enable bool
	// Expire is the account's end as a Unix time; 0 means never.
	Expire    int64
	Firstname string
	Lastname  string
	// Email and Keys are stored verbatim (Proxmox VE does not escape them),
	// so they must not contain ':' or control characters.
	Email   string
	Comment string
	// Keys holds legacy two-factor key ids, opaque here.
	Keys   string
	Groups []string          // sorted group ids, derived from the group records
	Tokens map[string]*Token // by token name (the part after '!')
}

// Token is an API token of a user.
type Token struct {
	ID      string // token name, the part after '!'
	Expire  int64  // Unix time; 0 means never
	Privsep bool   // privilege separation: the token's own ACLs limit it further
	Comment string
}

// Group is a set of users that ACLs can name as @<id>.
type Group struct {
	ID      string
	Members []string // sorted user ids
	Comment string
}

// Pool is a resource pool: guests and storages that share ACLs on
// /pool/<id>. Nested pools use '/' in the id ("dept/team").
type Pool struct {
	ID       string
	Comment  string
	VMs      []int    // a guest belongs to at most one pool
	Storages []string // a storage may be in several pools
}

// Role is a custom role.
type Role struct {
	ID    string
	Privs privs.Set
}

// Grants maps a role id to whether the grant propagates to deeper paths.
type Grants map[string]bool

// PathACL holds the grants made on one path, by kind of subject.
type PathACL struct {
	Users  map[string]Grants // by user id
	Groups map[string]Grants // by group id, without the '@'
	Tokens map[string]Grants // by full token id user@realm!name
}

func (a *PathACL) empty() bool {
	return len(a.Users) == 0 && len(a.Groups) == 0 && len(a.Tokens) == 0
}

// New returns an empty configuration.
func New() *Config {
	return &Config{
		Users:  map[string]*User{},
		Groups: map[string]*Group{},
		Pools:  map[string]*Pool{},
		Roles:  map[string]*Role{},
		ACL:    map[string]*PathACL{},
	}
}

// RolePrivs returns the privileges of a built-in or custom role.
func (c *Config) RolePrivs(id string) (privs.Set, bool) {
	if s, ok := privs.BuiltinSet(id); ok {
		return s, true
	}
	if r, ok := c.Roles[id]; ok {
		return r.Privs, true
	}
	return 0, false
}

// Token returns the token with the full id user@realm!name.
func (c *Config) Token(fullID string) (*Token, bool) {
	userid, name, ok := SplitTokenID(fullID)
	if !ok {
		return nil, false
	}
	u, ok := c.Users[userid]
	if !ok {
		return nil, false
	}
	t, ok := u.Tokens[name]
	return t, ok
}

// PoolOfVM returns the pool a guest belongs to.
func (c *Config) PoolOfVM(vmid int) (string, bool) {
	for _, id := range slices.Sorted(maps.Keys(c.Pools)) {
		for _, v := range c.Pools[id].VMs {
			if v == vmid {
				return id, true
			}
		}
	}
	return "", false
}

// EnsureRootUser adds root@pam, enabled, if the file lacks it. Proxmox VE
// does this every time it reads user.cfg; Parse does not, so that Parse
// and Bytes stay a faithful pair, and the caller decides.
func (c *Config) EnsureRootUser() {
	if _, ok := c.Users[RootUser]; !ok {
		c.Users[RootUser] = &User{ID: RootUser, Enable: true, Tokens: map[string]*Token{}}
	}
}

// SubjectKind tells what an ACL subject names.
type SubjectKind int

// The kinds of ACL subjects.
const (
	SubjectUser SubjectKind = iota
	SubjectGroup
	SubjectToken
)

// ParseSubject classifies an ACL subject as written in user.cfg and the
// API: "@group", "user@realm" or "user@realm!token". A leading '@' means a
// group only if the rest is a valid group id, as in Proxmox VE, so a user
// whose name starts with '@' still works.
func ParseSubject(s string) (SubjectKind, string, error) {
	if strings.HasPrefix(s, "@") && ValidGroupID(s[1:]) == nil {
		return SubjectGroup, s[1:], nil
	}
	if ValidUserID(s) == nil {
		return SubjectUser, s, nil
	}
	if ValidTokenID(s) == nil {
		return SubjectToken, s, nil
	}
	return 0, "", fmt.Errorf("invalid ACL subject %q: want user@realm, @group or user@realm!token", s)
}

// ACL is one line of the access control list as written in user.cfg: the
// subjects that share exactly the same role list on a path.
type ACL struct {
	Path      string
	Propagate bool
	Users     []string // sorted
	Groups    []string // sorted, without '@'
	Tokens    []string // sorted full token ids
	Roles     []string // sorted
}

// ACLPaths returns the paths that carry grants, in the order Bytes writes them.
func (c *Config) ACLPaths() []string {
	paths := make([]string, 0, len(c.ACL))
	for p, a := range c.ACL {
		if !a.empty() {
			paths = append(paths, p)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return ComparePaths(paths[i], paths[j]) < 0 })
	return paths
}

// ACLs returns the access control list in canonical form: paths in tree
// order; per path, non-propagating lines before propagating ones; per
// propagate value one line for each distinct role list (sorted as
// comma-joined text), carrying every subject that holds exactly that list.
// Grants to root@pam are left out, as Proxmox VE does: root holds
// everything anyway.
func (c *Config) ACLs() []ACL {
	var out []ACL
	for _, path := range c.ACLPaths() {
		a := c.ACL[path]
		// byProp[propagate][role list] → line being collected
		byProp := [2]map[string]*ACL{{}, {}}
		collect := func(grants map[string]Grants, kind SubjectKind) {
			for subj, g := range grants {
				if kind == SubjectUser && subj == RootUser {
					continue
				}
				var lists [2][]string
				for role, prop := range g {
					lists[b2i(prop)] = append(lists[b2i(prop)], role)
				}
				for p := range lists {
					if len(lists[p]) == 0 {
						continue
					}
					sort.Strings(lists[p])
					key := strings.Join(lists[p], ",")
					line := byProp[p][key]
					if line == nil {
						line = &ACL{Path: path, Propagate: p == 1, Roles: lists[p]}
						byProp[p][key] = line
					}
					switch kind {
					case SubjectUser:
						line.Users = append(line.Users, subj)
					case SubjectGroup:
						line.Groups = append(line.Groups, subj)
					case SubjectToken:
						line.Tokens = append(line.Tokens, subj)
					}
				}
			}
		}
		collect(a.Users, SubjectUser)
		collect(a.Groups, SubjectGroup)
		collect(a.Tokens, SubjectToken)
		for p := range byProp {
			for _, key := range slices.Sorted(maps.Keys(byProp[p])) {
				line := byProp[p][key]
				sort.Strings(line.Users)
				sort.Strings(line.Groups)
				sort.Strings(line.Tokens)
				out = append(out, *line)
			}
		}
	}
	return out
}

// Subjects returns the line's subjects as written in user.cfg: groups with
// '@', all sorted together by their written form.
func (a ACL) Subjects() []string {
	out := make([]string, 0, len(a.Users)+len(a.Groups)+len(a.Tokens))
	out = append(out, a.Users...)
	for _, g := range a.Groups {
		out = append(out, "@"+g)
	}
	out = append(out, a.Tokens...)
	sort.Strings(out)
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
