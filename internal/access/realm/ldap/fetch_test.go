package ldap

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

func names[T any](items []T, name func(T) string) []string {
	var out []string
	for _, it := range items {
		out = append(out, name(it))
	}
	return out
}

func TestFetchReadsUsersAndResolvesGroupMembers(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, testReaderPW, "bind_dn", testReaderDN,
		"group_dn", testGroupsDN, "group_classes", "groupOfNames,posixGroup",
		"sync_attributes", "email=mail,firstname=givenName,lastname=sn")
	dir, err := c.Fetch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	users := names(dir.Users, func(u DirUser) string { return u.Name })
	if want := []string{"Dave", "alice", "bad:name", "bob", "carol"}; !reflect.DeepEqual(users, want) {
		t.Fatalf("users %v, want %v", users, want)
	}
	alice := dir.Users[1]
	if alice.Attrs["mail"] != "alice@example.org" || alice.Attrs["givenname"] != "Alice" || alice.Attrs["sn"] != "Liddell" {
		t.Errorf("alice's attributes %v", alice.Attrs)
	}
	if _, ok := alice.Attrs["userpassword"]; ok {
		t.Error("the password attribute was fetched")
	}
	got := map[string][]string{}
	for _, g := range dir.Groups {
		got[g.Name] = g.Members
	}
	// devs names alice by a DN spelled in other case and spacing, and a
	// DN that is no user; ops names members by uid, one of them unknown.
	want := map[string][]string{
		"admins": {"alice"},
		"devs":   {"Dave", "alice", "bob"},
		"ops":    {"carol"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
}

func TestFetchLowersNamesWhenNotCaseSensitive(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "", "case-sensitive", "0", "group_name_attr", "cn")
	dir, err := c.Fetch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if users := names(dir.Users, func(u DirUser) string { return u.Name }); users[0] != "alice" || !contains(users, "dave") {
		t.Errorf("users %v, want lower-case names", users)
	}
	for _, g := range dir.Groups {
		if g.Name == "devs" && !reflect.DeepEqual(g.Members, []string{"alice", "bob", "dave"}) {
			t.Errorf("devs members %v", g.Members)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestFetchFromUnreachableDirectoryFails(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "", "server1", "127.0.0.2")
	if _, err := c.Fetch(testContext(t)); err == nil {
		t.Fatal("Fetch from a server that is down succeeded")
	}
}

// TestSyncFromSlapd runs two syncs against the real directory: the first
// imports everything, then the directory changes (a mail address, a
// deleted user and a deleted group) and the second sync, with
// remove-vanished=entry;acl, follows.
func TestSyncFromSlapd(t *testing.T) {
	s := startSlapd(t)
	c := s.realmConfig(t, "", "group_dn", testGroupsDN, "group_classes", "groupOfNames,posixGroup",
		"sync_attributes", "email=mail,firstname=givenName,lastname=sn",
		"sync-defaults-options", "scope=both,enable-new=1")
	cfg := usercfg.New()
	cfg.EnsureRootUser()

	dir, err := c.Fetch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ApplySync(cfg, c.Realm, dir, c.SyncAttributes, c.SyncDefaults)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Dave@corp", "alice@corp", "bob@corp", "carol@corp"}; !reflect.DeepEqual(res.AddedUsers, want) {
		t.Fatalf("added users %v, want %v (log %q)", res.AddedUsers, want, res.Log)
	}
	if want := []string{"admins-corp", "devs-corp", "ops-corp"}; !reflect.DeepEqual(res.AddedGroups, want) {
		t.Fatalf("added groups %v, want %v", res.AddedGroups, want)
	}
	if u := cfg.Users["bob@corp"]; !u.Enable || u.Email != "bob@example.org" || u.Lastname != "Builder" {
		t.Errorf("bob %+v", u)
	}
	if got := cfg.Groups["devs-corp"].Members; !reflect.DeepEqual(got, []string{"Dave@corp", "alice@corp", "bob@corp"}) {
		t.Errorf("devs-corp members %v", got)
	}
	if err := cfg.SetACL("/vms/100", []string{"carol@corp", "@admins-corp", "bob@corp"}, []string{"PVEAuditor"}, true, false); err != nil {
		t.Fatal(err)
	}

	admin := s.admin(t)
	mod := ldap.NewModifyRequest("uid=bob,"+testPeopleDN, nil)
	mod.Replace("mail", []string{"robert@example.org"})
	if err := admin.Modify(mod); err != nil {
		t.Fatal(err)
	}
	for _, dn := range []string{"uid=carol," + testPeopleDN, "cn=admins," + testGroupsDN} {
		if err := admin.Del(ldap.NewDelRequest(dn, nil)); err != nil {
			t.Fatalf("delete %s: %v", dn, err)
		}
	}

	dir, err = c.Fetch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := ParseSyncOptions("scope=both,remove-vanished=entry;acl")
	if err != nil {
		t.Fatal(err)
	}
	dry := opts
	dry.DryRun = true
	before := cfg.Bytes()
	dryRes, err := ApplySync(cfg, c.Realm, dir, c.SyncAttributes, dry)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, cfg.Bytes()) {
		t.Fatal("dry run changed user.cfg")
	}
	res, err = ApplySync(cfg, c.Realm, dir, c.SyncAttributes, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dryRes, res) {
		t.Errorf("dry run reported %+v, the real sync %+v", dryRes, res)
	}
	// ops-corp loses carol with her user record, not through the group
	// sync, so it is not reported as updated.
	if !reflect.DeepEqual(res.RemovedUsers, []string{"carol@corp"}) || !reflect.DeepEqual(res.UpdatedUsers, []string{"bob@corp"}) ||
		!reflect.DeepEqual(res.RemovedGroups, []string{"admins-corp"}) || len(res.UpdatedGroups) != 0 {
		t.Fatalf("second sync %+v", res)
	}
	if cfg.Users["carol@corp"] != nil || cfg.Groups["admins-corp"] != nil {
		t.Error("vanished entries kept")
	}
	if cfg.Users["bob@corp"].Email != "robert@example.org" {
		t.Errorf("bob's mail not updated: %+v", cfg.Users["bob@corp"])
	}
	if len(cfg.Groups["ops-corp"].Members) != 0 {
		t.Errorf("ops-corp still lists %v", cfg.Groups["ops-corp"].Members)
	}
	if hasGrant(cfg, "carol@corp") || hasGrant(cfg, "@admins-corp") || !hasGrant(cfg, "bob@corp") {
		t.Errorf("ACL after sync: %+v", cfg.ACLs())
	}
}
