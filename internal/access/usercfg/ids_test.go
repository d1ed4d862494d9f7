package usercfg

import (
	"strings"
	"testing"
)

func TestIDValidation(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) error
		ok    []string
		bad   []string
	}{
		{"user id", ValidUserID,
			[]string{"root@pam", "a@pve", "john.doe@example.com@ldap", "m\xc3\xbcller@pve", "a!b@pve",
				strings.Repeat("x", 60) + "@pve"},
			[]string{"", "root", "@pve", "a@", "a@p", "a@1pve", "a b@pve", "a:b@pve", "a/b@pve", "a,b@pve",
				"a;b@pve", "a\tb@pve", "a\x7f@pve", "a@pve!tok", strings.Repeat("x", 61) + "@pve",
				"a@" + strings.Repeat("r", 33)}},
		{"realm", ValidRealm,
			[]string{"pam", "pve", "my-ldap.corp_1", "ab", "a" + strings.Repeat("b", 31)},
			[]string{"", "a", "1ab", "-ab", "a b", "a@b", "a" + strings.Repeat("b", 32)}},
		{"token name", ValidTokenName,
			[]string{"monitoring", "ci-1", "A.b_c", "ab"},
			[]string{"", "a", "1abc", "a b", "a!b", "a@b", "-ab"}},
		{"token id", ValidTokenID,
			[]string{"joe@pve!monitoring", "a!b@pve!tok"},
			[]string{"joe@pve", "joe@pve!", "joe!tok", "joe@pve!1x", "@pve!tok"}},
		{"group id", ValidGroupID,
			[]string{"admins", "a.b-c_d", "1", "PVE"},
			[]string{"", "a b", "a/b", "@a", "a:b"}},
		{"role id", ValidRoleID,
			[]string{"VM_Power-only", "PVEVMUser", "r.1"},
			[]string{"", "a b", "a,b", "Role!"}},
		{"pool id", ValidPoolID,
			[]string{"dev", "dev/frontend", "a/b/c", "A.b-c_1"},
			[]string{"", "/dev", "dev/", "a//b", "a/b/c/d", "a b", "a:b"}},
	}
	for _, tc := range tests {
		for _, v := range tc.ok {
			if err := tc.check(v); err != nil {
				t.Errorf("%s %q: unexpected error %v", tc.name, v, err)
			}
		}
		for _, v := range tc.bad {
			if err := tc.check(v); err == nil {
				t.Errorf("%s %q: accepted", tc.name, v)
			}
		}
	}
}

func TestSplitIDs(t *testing.T) {
	if n, r, ok := SplitUserID("carol@example.com@oidc"); !ok || n != "carol@example.com" || r != "oidc" {
		t.Errorf("SplitUserID = %q %q %v", n, r, ok)
	}
	if u, tok, ok := SplitTokenID("joe@pve!mon"); !ok || u != "joe@pve" || tok != "mon" {
		t.Errorf("SplitTokenID = %q %q %v", u, tok, ok)
	}
	if JoinTokenID("joe@pve", "mon") != "joe@pve!mon" {
		t.Error("JoinTokenID")
	}
	if p, ok := PoolParent("a/b/c"); !ok || p != "a/b" {
		t.Errorf("PoolParent = %q %v", p, ok)
	}
	if _, ok := PoolParent("a"); ok {
		t.Error("PoolParent of a top-level pool")
	}
}

func TestNormalizeACLPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"//", "/"},
		{"vms", "/vms"},
		{"/vms/", "/vms"},
		{"//vms//100/", "/vms/100"},
		{"/pool/dev-pool/", "/pool/dev-pool"},
		{"/storage/local.x", "/storage/local.x"},
		{"/vms/...", "/vms/..."},
		{"", ""},
		{"/vms/..", ""},
		{"/./vms", ""},
		{"/vms/1 0", ""},
		{"/vms:1", ""},
		{"/vms/ü", ""},
	} {
		got, err := NormalizeACLPath(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("NormalizeACLPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestComparePaths(t *testing.T) {
	ordered := []string{"/", "/access", "/access/groups", "/pool/a", "/pool/a/b", "/pool/a-b", "/vms", "/vms/100", "/vms/1000", "/vms/101"}
	for i := range ordered {
		for j := range ordered {
			got := ComparePaths(ordered[i], ordered[j])
			if (i < j && got >= 0) || (i > j && got <= 0) || (i == j && got != 0) {
				t.Errorf("ComparePaths(%q, %q) = %d", ordered[i], ordered[j], got)
			}
		}
	}
}

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind SubjectKind
		id   string
		ok   bool
	}{
		{"joe@pve", SubjectUser, "joe@pve", true},
		{"@admins", SubjectGroup, "admins", true},
		{"joe@pve!mon", SubjectToken, "joe@pve!mon", true},
		{"@odd@pve", SubjectUser, "@odd@pve", true}, // not a valid group id, so a user
		{"@", 0, "", false},
		{"joe", 0, "", false},
	} {
		kind, id, err := ParseSubject(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (kind != tc.kind || id != tc.id)) {
			t.Errorf("ParseSubject(%q) = %v %q %v", tc.in, kind, id, err)
		}
	}
}
