package usercfg

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// Identifier rules are the API's named formats (pve-userid, pve-realm,
// pve-tokenid, pve-groupid, pve-roleid, pve-poolid), defined once in
// package schema; these functions apply them to the file's fields.
var aclPathRE = regexp.MustCompile(`^[A-Za-z0-9.\-_/]+$`)

// MaxUserIDLen is the longest user id (name, '@' and realm) in bytes.
const MaxUserIDLen = schema.MaxUserIDLen

// RootUser is the superuser of the pam realm; it holds every privilege.
const RootUser = "root@pam"

// ValidRealm checks a realm id: a letter, then 1 to 31 letters, digits,
// '.', '-' or '_'.
func ValidRealm(realm string) error { return schema.CheckFormat("pve-realm", realm) }

// SplitUserID splits "name@realm" at the last '@': names may contain '@'
// themselves (directory and OpenID users are often e-mail addresses) but
// realms may not.
func SplitUserID(id string) (name, realm string, ok bool) {
	at := strings.LastIndexByte(id, '@')
	if at < 0 {
		return "", "", false
	}
	return id[:at], id[at+1:], true
}

// ValidUserID checks a user id "name@realm". The name may not contain
// white space or control characters, ':' (the field separator of
// user.cfg), '/' (the API path separator), or ',' and ';' (list separators
// in user.cfg; Proxmox VE admits those two but they would split a group's
// member list).
func ValidUserID(id string) error { return schema.CheckFormat("pve-userid", id) }

// ValidTokenName checks the token part of a token id (after the '!').
func ValidTokenName(name string) error { return schema.CheckFormat("pve-token-name", name) }

// SplitTokenID splits a full token id "name@realm!token" at the last '!'.
func SplitTokenID(id string) (userid, token string, ok bool) {
	bang := strings.LastIndexByte(id, '!')
	if bang < 0 {
		return "", "", false
	}
	return id[:bang], id[bang+1:], true
}

// JoinTokenID builds the full token id of a user's token.
func JoinTokenID(userid, token string) string { return userid + "!" + token }

// ValidTokenID checks a full token id "name@realm!token".
func ValidTokenID(id string) error { return schema.CheckFormat("pve-tokenid", id) }

// ValidGroupID checks a group id: letters, digits, '.', '-' and '_'.
func ValidGroupID(id string) error { return schema.CheckFormat("pve-groupid", id) }

// ValidRoleID checks a role id: letters, digits, '.', '-' and '_'. Whether
// a new custom role may take the name is a separate question (see
// privs.IsReserved).
func ValidRoleID(id string) error { return schema.CheckFormat("pve-roleid", id) }

// ValidPoolID checks a pool id: up to three '/'-separated levels (nested
// pools), each of letters, digits, '.', '-' and '_'.
func ValidPoolID(id string) error { return schema.CheckFormat("pve-poolid", id) }

// PoolParent returns the pool a nested pool belongs to ("a/b" → "a").
func PoolParent(id string) (string, bool) {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return "", false
	}
	return id[:i], true
}

// validStorageID is the storage id rule Proxmox VE applies to pool members.
func validStorageID(id string) bool { return schema.CheckFormat("pve-storage-id", id) == nil }

// NormalizeACLPath turns an ACL path into its canonical form: a leading
// '/', single slashes, no trailing slash ("vms//100/" → "/vms/100"; "" is
// invalid, "/" is the root). Components may hold letters, digits, '.', '-'
// and '_', but "." and ".." are refused: the path names objects, and a
// component that looks like a directory step would only confuse readers.
func NormalizeACLPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty ACL path")
	}
	if !aclPathRE.MatchString(p) {
		return "", fmt.Errorf("invalid ACL path %q: only letters, digits, '.', '-', '_' and '/' are allowed", p)
	}
	var b strings.Builder
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "":
			continue
		case ".", "..":
			return "", fmt.Errorf("invalid ACL path %q: component %q", p, c)
		}
		b.WriteByte('/')
		b.WriteString(c)
	}
	if b.Len() == 0 {
		return "/", nil
	}
	return b.String(), nil
}

// PathComponents splits a normalised ACL path into its components; the
// root "/" has none.
func PathComponents(path string) []string {
	if path == "/" || path == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(path, "/"), "/")
}

// ComparePaths orders normalised ACL paths the way Proxmox VE walks its ACL
// tree when writing user.cfg: depth first, children sorted by name, a
// parent before its children. This differs from plain string order
// ("/vms/100" comes before "/vms-old" here), and round trips depend on it.
func ComparePaths(a, b string) int {
	ca, cb := PathComponents(a), PathComponents(b)
	for i := 0; i < len(ca) && i < len(cb); i++ {
		if c := strings.Compare(ca[i], cb[i]); c != 0 {
			return c
		}
	}
	return len(ca) - len(cb)
}
