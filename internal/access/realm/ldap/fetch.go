package ldap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// pageSize keeps each search below the 1000-entry limit AD puts on one
// response.
const pageSize = 500

// Directory is what a sync imports: the realm's users and groups.
type Directory struct {
	Users  []DirUser
	Groups []DirGroup
}

// DirUser is one user entry.
type DirUser struct {
	Name string // the user_attr value: the name before "@realm"
	DN   string
	// Attrs holds the first value of each fetched attribute, keyed by
	// the attribute name in lower case.
	Attrs map[string]string
}

// DirGroup is one group entry.
type DirGroup struct {
	Name    string // group_name_attr, or the first RDN value of its DN
	DN      string
	Members []string // sorted names of member users found among Users
}

// Fetch reads the realm's users and groups. Group members are given by
// DN (member, uniqueMember) or by user name (memberUid, as posixGroup
// has); only members that are users of the realm are kept. When the realm
// is not case-sensitive, user names are lowered, so that the user ids a
// sync creates do not depend on how the directory spells them.
func (c *Config) Fetch(ctx context.Context) (*Directory, error) {
	if c.BaseDN == "" {
		return nil, fmt.Errorf("ldap: base_dn is not set")
	}
	lc, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer lc.close()
	if err := c.bindService(lc); err != nil {
		return nil, err
	}
	users, err := c.fetchUsers(lc)
	if err != nil {
		return nil, err
	}
	groups, err := c.fetchGroups(lc, users)
	if err != nil {
		return nil, err
	}
	return &Directory{Users: users, Groups: groups}, nil
}

// userAttrs lists the attributes a user search asks for: the name and one
// per sync field.
func (c *Config) userAttrs() []string {
	attrs := []string{c.UserAttr}
	for _, f := range syncFields {
		a := f
		if m := c.SyncAttributes[f]; m != "" {
			a = m
		}
		if !slices.ContainsFunc(attrs, func(x string) bool { return strings.EqualFold(x, a) }) {
			attrs = append(attrs, a)
		}
	}
	return attrs
}

func (c *Config) fetchUsers(lc *conn) ([]DirUser, error) {
	req := ldap.NewSearchRequest(c.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, int(c.timeout().Seconds()), false, c.userFilter(""), c.userAttrs(), nil)
	res, err := lc.SearchWithPaging(req, pageSize)
	if err != nil {
		return nil, fmt.Errorf("ldap: search users under %s on %s: %w", c.BaseDN, lc.server, err)
	}
	var users []DirUser
	for _, e := range res.Entries {
		name := e.GetEqualFoldAttributeValue(c.UserAttr)
		if name == "" {
			continue // an entry of the classes without a user name
		}
		if !c.CaseSensitive {
			name = strings.ToLower(name)
		}
		u := DirUser{Name: name, DN: e.DN, Attrs: map[string]string{}}
		for _, a := range e.Attributes {
			if len(a.Values) > 0 {
				u.Attrs[strings.ToLower(a.Name)] = a.Values[0]
			}
		}
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b DirUser) int { return strings.Compare(a.Name, b.Name) })
	return users, nil
}

// Group entries name members by one of these attributes.
var memberAttrs = []string{"member", "uniqueMember", "memberUid"}

func (c *Config) fetchGroups(lc *conn, users []DirUser) ([]DirGroup, error) {
	base := c.GroupDN
	if base == "" {
		base = c.BaseDN
	}
	attrs := slices.Clone(memberAttrs)
	if c.GroupNameAttr != "" {
		attrs = append(attrs, c.GroupNameAttr)
	}
	filter := andFilter(classFilter(c.GroupClasses), c.GroupFilter)
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, int(c.timeout().Seconds()), false, filter, attrs, nil)
	res, err := lc.SearchWithPaging(req, pageSize)
	if err != nil {
		return nil, fmt.Errorf("ldap: search groups under %s on %s: %w", base, lc.server, err)
	}

	byDN := map[string]string{}
	byName := map[string]string{}
	for _, u := range users {
		byDN[dnKey(u.DN)] = u.Name
		byName[strings.ToLower(u.Name)] = u.Name
	}
	var groups []DirGroup
	for _, e := range res.Entries {
		g := DirGroup{DN: e.DN}
		if c.GroupNameAttr != "" {
			g.Name = e.GetEqualFoldAttributeValue(c.GroupNameAttr)
		}
		if g.Name == "" {
			g.Name = firstRDNValue(e.DN)
		}
		if g.Name == "" {
			continue
		}
		seen := map[string]bool{}
		add := func(name string, ok bool) {
			if ok && !seen[name] {
				seen[name] = true
				g.Members = append(g.Members, name)
			}
		}
		for _, v := range e.GetEqualFoldAttributeValues("member") {
			name, ok := byDN[dnKey(v)]
			add(name, ok)
		}
		for _, v := range e.GetEqualFoldAttributeValues("uniqueMember") {
			name, ok := byDN[dnKey(stripUID(v))]
			add(name, ok)
		}
		for _, v := range e.GetEqualFoldAttributeValues("memberUid") {
			// memberUid values are user names, compared case-insensitively
			// as uid is.
			name, ok := byName[strings.ToLower(v)]
			add(name, ok)
		}
		slices.Sort(g.Members)
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b DirGroup) int { return strings.Compare(a.Name, b.Name) })
	return groups, nil
}

// dnKey normalises a DN for comparison: attribute types and values folded
// to lower case, escaping and spacing made uniform. Directories compare
// most naming attributes without regard to case, and the same DN comes
// back spelled differently in member values and entry names.
func dnKey(s string) string {
	dn, err := ldap.ParseDN(s)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(s))
	}
	rdns := make([]string, len(dn.RDNs))
	for i, r := range dn.RDNs {
		avas := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			avas[j] = strings.ToLower(a.Type) + "=" + ldap.EscapeDN(strings.ToLower(a.Value))
		}
		slices.Sort(avas)
		rdns[i] = strings.Join(avas, "+")
	}
	return strings.Join(rdns, ",")
}

// stripUID drops the optional "#'...'B" unique identifier that
// uniqueMember values may carry after the DN.
func stripUID(v string) string {
	if i := strings.LastIndex(v, "#'"); i > 0 && strings.HasSuffix(v, "'B") {
		return v[:i]
	}
	return v
}

func firstRDNValue(s string) string {
	dn, err := ldap.ParseDN(s)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) == 0 {
		return ""
	}
	return dn.RDNs[0].Attributes[0].Value
}
