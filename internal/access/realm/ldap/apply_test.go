package ldap

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

// syncFixture is a user.cfg with users and groups of the realm "corp",
// of other realms, hand-made groups, a token and ACL grants to all kinds
// of subjects, so that each test can see what a sync touches and what it
// leaves alone.
func syncFixture(t *testing.T) *usercfg.Config {
	t.Helper()
	cfg := usercfg.New()
	cfg.EnsureRootUser()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cfg.AddUser(usercfg.User{ID: "alice@corp", Enable: true, Email: "old@example.org",
		Lastname: "Liddell", Comment: "typed by hand", Expire: 2000000000}))
	must(cfg.AddUser(usercfg.User{ID: "gone@corp", Enable: false, Email: "gone@example.org"}))
	must(cfg.AddToken("gone@corp", usercfg.Token{ID: "ci"}))
	must(cfg.AddToken("alice@corp", usercfg.Token{ID: "api"}))
	must(cfg.AddUser(usercfg.User{ID: "local@pve", Enable: true}))
	must(cfg.AddUser(usercfg.User{ID: "gone@other", Enable: true}))
	must(cfg.AddGroup(usercfg.Group{ID: "admins-corp", Comment: "synced", Members: []string{"alice@corp", "gone@corp", "local@pve"}}))
	must(cfg.AddGroup(usercfg.Group{ID: "stale-corp", Comment: "old", Members: []string{"gone@corp"}}))
	must(cfg.AddGroup(usercfg.Group{ID: "handmade", Members: []string{"gone@corp"}}))
	must(cfg.AddGroup(usercfg.Group{ID: "team-other"}))
	must(cfg.SetACL("/vms/100", []string{"gone@corp", "gone@corp!ci", "@stale-corp", "alice@corp", "gone@other", "@team-other"},
		[]string{"PVEAuditor"}, true, false))
	return cfg
}

func syncDirectory() *Directory {
	return &Directory{
		Users: []DirUser{
			{Name: "alice", Attrs: map[string]string{"mail": "alice@example.org", "givenname": "Alice"}},
			{Name: "newbie", Attrs: map[string]string{"mail": "newbie@example.org", "expire": "1900000000"}},
		},
		Groups: []DirGroup{
			{Name: "admins", Members: []string{"alice", "newbie", "stranger"}},
			{Name: "fresh", Members: []string{"newbie"}},
		},
	}
}

var syncAttrs = map[string]string{"email": "mail", "firstname": "givenName"}

func applySync(t *testing.T, cfg *usercfg.Config, opts string) SyncResult {
	t.Helper()
	o, err := ParseSyncOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ApplySync(cfg, "corp", syncDirectory(), syncAttrs, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hasGrant(cfg *usercfg.Config, subject string) bool {
	for _, acl := range cfg.ACLs() {
		if slices.Contains(acl.Subjects(), subject) {
			return true
		}
	}
	return false
}

func TestApplySyncAddsNewUsersAndUpdatesSyncedFields(t *testing.T) {
	cfg := syncFixture(t)
	res := applySync(t, cfg, "scope=users")
	if !reflect.DeepEqual(res.AddedUsers, []string{"newbie@corp"}) || !reflect.DeepEqual(res.UpdatedUsers, []string{"alice@corp"}) ||
		len(res.RemovedUsers) != 0 {
		t.Fatalf("result %+v", res)
	}
	n := cfg.Users["newbie@corp"]
	if n == nil || !n.Enable || n.Email != "newbie@example.org" || n.Expire != 1900000000 {
		t.Fatalf("new user %+v", n)
	}
	a := cfg.Users["alice@corp"]
	// Fields the directory lacks keep their values without "properties".
	if a.Email != "alice@example.org" || a.Firstname != "Alice" || a.Lastname != "Liddell" || a.Comment != "typed by hand" {
		t.Fatalf("alice after sync %+v", a)
	}
	if cfg.Users["gone@corp"] == nil || !hasGrant(cfg, "gone@corp") {
		t.Fatal("a vanished user went away although nothing was to be removed")
	}
	if _, ok := cfg.Groups["fresh-corp"]; ok {
		t.Fatal("scope=users created groups")
	}
}

func TestApplySyncEnableNewOffLeavesNewUsersDisabled(t *testing.T) {
	cfg := syncFixture(t)
	applySync(t, cfg, "scope=users,enable-new=0")
	if cfg.Users["newbie@corp"].Enable {
		t.Error("new user enabled with enable-new=0")
	}
	if !cfg.Users["alice@corp"].Enable {
		t.Error("enable-new=0 disabled an existing user")
	}
}

func TestApplySyncRemoveEntryKeepsACLWithoutACLOption(t *testing.T) {
	cfg := syncFixture(t)
	res := applySync(t, cfg, "scope=both,remove-vanished=entry")
	if !reflect.DeepEqual(res.RemovedUsers, []string{"gone@corp"}) || !reflect.DeepEqual(res.RemovedGroups, []string{"stale-corp"}) {
		t.Fatalf("result %+v", res)
	}
	if cfg.Users["gone@corp"] != nil || cfg.Groups["stale-corp"] != nil {
		t.Fatal("vanished entries still there")
	}
	if slices.Contains(cfg.Groups["handmade"].Members, "gone@corp") {
		t.Error("removed user still a member of a hand-made group")
	}
	for _, s := range []string{"gone@corp", "gone@corp!ci", "@stale-corp"} {
		if !hasGrant(cfg, s) {
			t.Errorf("grant to %s dropped without remove-vanished=acl", s)
		}
	}
}

func TestApplySyncRemoveEntryAndACLDropsGrants(t *testing.T) {
	cfg := syncFixture(t)
	applySync(t, cfg, "scope=both,remove-vanished=entry;acl")
	for _, s := range []string{"gone@corp", "gone@corp!ci", "@stale-corp"} {
		if hasGrant(cfg, s) {
			t.Errorf("grant to %s kept with remove-vanished=acl", s)
		}
	}
	for _, s := range []string{"alice@corp", "gone@other", "@team-other"} {
		if !hasGrant(cfg, s) {
			t.Errorf("grant to %s, which did not vanish, was dropped", s)
		}
	}
}

func TestApplySyncACLWithoutEntryDropsGrantsButKeepsEntries(t *testing.T) {
	cfg := syncFixture(t)
	res := applySync(t, cfg, "scope=both,remove-vanished=acl")
	if len(res.RemovedUsers)+len(res.RemovedGroups) != 0 || cfg.Users["gone@corp"] == nil || cfg.Groups["stale-corp"] == nil {
		t.Fatalf("entries removed without remove-vanished=entry: %+v", res)
	}
	if hasGrant(cfg, "gone@corp") || hasGrant(cfg, "gone@corp!ci") || hasGrant(cfg, "@stale-corp") {
		t.Error("grants of vanished entries kept with remove-vanished=acl")
	}
	if !hasGrant(cfg, "alice@corp") {
		t.Error("grant of a synced user dropped")
	}
}

func TestApplySyncPropertiesClearsFieldsTheDirectoryLacks(t *testing.T) {
	cfg := syncFixture(t)
	applySync(t, cfg, "scope=both,remove-vanished=properties")
	a := cfg.Users["alice@corp"]
	if a.Firstname != "Alice" || a.Email != "alice@example.org" || a.Lastname != "" || a.Comment != "" || a.Expire != 0 {
		t.Errorf("alice after properties sync %+v", a)
	}
	if !a.Enable || a.Tokens["api"] == nil {
		t.Error("properties sync lost the enable flag or a token")
	}
	// A synced group's comment never comes from the directory, so it is
	// cleared; a vanished group is not synced and keeps its own.
	if c := cfg.Groups["admins-corp"].Comment; c != "" {
		t.Errorf("synced group kept comment %q", c)
	}
	if cfg.Groups["stale-corp"].Comment != "old" {
		t.Error("a vanished group was changed")
	}
}

func TestApplySyncWithoutPropertiesKeepsGroupComment(t *testing.T) {
	cfg := syncFixture(t)
	applySync(t, cfg, "scope=groups")
	if c := cfg.Groups["admins-corp"].Comment; c != "synced" {
		t.Errorf("group comment %q, want it kept", c)
	}
}

func TestApplySyncReplacesRealmMembersOfSyncedGroups(t *testing.T) {
	cfg := syncFixture(t)
	res := applySync(t, cfg, "scope=both")
	if !reflect.DeepEqual(res.AddedGroups, []string{"fresh-corp"}) || !reflect.DeepEqual(res.UpdatedGroups, []string{"admins-corp"}) {
		t.Fatalf("result %+v", res)
	}
	// gone@corp leaves (the directory does not list it), local@pve stays
	// (added by hand from another realm), stranger is not a user.
	if got := cfg.Groups["admins-corp"].Members; !reflect.DeepEqual(got, []string{"alice@corp", "local@pve", "newbie@corp"}) {
		t.Errorf("admins-corp members %v", got)
	}
	if got := cfg.Users["newbie@corp"].Groups; !reflect.DeepEqual(got, []string{"admins-corp", "fresh-corp"}) {
		t.Errorf("newbie's groups %v", got)
	}
	if slices.Contains(cfg.Users["gone@corp"].Groups, "admins-corp") {
		t.Error("user.Groups not kept in step with the group's members")
	}
	if !slices.ContainsFunc(res.Log, func(l string) bool { return strings.Contains(l, "admins-corp: 1 member(s) not in user.cfg") }) {
		t.Errorf("missing member not logged: %q", res.Log)
	}
	again := applySync(t, cfg, "scope=both")
	if len(again.AddedUsers)+len(again.UpdatedUsers)+len(again.AddedGroups)+len(again.UpdatedGroups) != 0 {
		t.Errorf("second identical sync changed something: %+v", again)
	}
}

func TestApplySyncLeavesOtherRealmsAlone(t *testing.T) {
	cfg := syncFixture(t)
	applySync(t, cfg, "scope=both,remove-vanished=entry;acl;properties")
	for _, u := range []string{"root@pam", "local@pve", "gone@other"} {
		if cfg.Users[u] == nil {
			t.Errorf("user %s of another realm removed", u)
		}
	}
	for _, g := range []string{"handmade", "team-other"} {
		if cfg.Groups[g] == nil {
			t.Errorf("group %s not of this realm removed", g)
		}
	}
}

func TestApplySyncDryRunChangesNothingButReports(t *testing.T) {
	cfg := syncFixture(t)
	before := cfg.Bytes()
	o, _ := ParseSyncOptions("scope=both,remove-vanished=entry;acl;properties")
	o.DryRun = true
	dry, err := ApplySync(cfg, "corp", syncDirectory(), syncAttrs, o)
	if err != nil {
		t.Fatal(err)
	}
	if after := cfg.Bytes(); !bytes.Equal(before, after) {
		t.Fatalf("dry run changed user.cfg:\n%s\n---\n%s", before, after)
	}
	if cfg.Users["alice@corp"].Email != "old@example.org" {
		t.Fatal("dry run changed a user record in place")
	}
	real := applySync(t, syncFixture(t), "scope=both,remove-vanished=entry;acl;properties")
	if !reflect.DeepEqual(dry, real) {
		t.Errorf("dry run reports\n%+v\nreal run\n%+v", dry, real)
	}
}

func TestApplySyncSkipsNamesUserCfgCannotHold(t *testing.T) {
	cfg := usercfg.New()
	dir := &Directory{
		Users: []DirUser{
			{Name: "bad:name"},
			{Name: "sp ace"},
			{Name: "colon-mail", Attrs: map[string]string{"email": "a:b@example.org"}},
			{Name: "ok", Attrs: map[string]string{"expire": "soon"}},
			{Name: "ok"},
		},
		Groups: []DirGroup{{Name: "bad group"}, {Name: "good", Members: []string{"ok"}}},
	}
	res, err := ApplySync(cfg, "corp", dir, nil, SyncOptions{Scope: ScopeBoth, EnableNew: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.AddedUsers, []string{"ok@corp"}) || !reflect.DeepEqual(res.AddedGroups, []string{"good-corp"}) {
		t.Fatalf("result %+v", res)
	}
	for _, want := range []string{`skipped user "bad:name"`, `skipped user "sp ace"`, "skipped user colon-mail@corp",
		`ignored expire "soon"`, "skipped second directory entry for user ok@corp", `skipped group "bad group"`} {
		if !slices.ContainsFunc(res.Log, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("log lacks %q: %q", want, res.Log)
		}
	}
}

func TestApplySyncRefusesBadArguments(t *testing.T) {
	cfg := usercfg.New()
	if _, err := ApplySync(cfg, "corp", &Directory{}, nil, SyncOptions{}); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Errorf("missing scope: %v", err)
	}
	if _, err := ApplySync(cfg, "1bad", &Directory{}, nil, SyncOptions{Scope: ScopeBoth}); err == nil {
		t.Error("invalid realm accepted")
	}
	if _, err := ApplySync(cfg, "corp", nil, nil, SyncOptions{Scope: ScopeBoth}); err == nil {
		t.Error("nil directory accepted")
	}
}
