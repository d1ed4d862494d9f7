package openid

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/access/usercfg"
)

func TestApplyLoginFindsExistingUser(t *testing.T) {
	cfg := usercfg.New()
	if err := cfg.AddUser(usercfg.User{ID: "jdoe@corp", Enable: true, Email: "old@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, autocreate := range []bool{false, true} {
		userid, created, err := ApplyLogin(cfg, "corp", &Identity{Username: "jdoe", Email: "new@example.com"}, autocreate)
		if err != nil || userid != "jdoe@corp" || created {
			t.Errorf("autocreate=%v: %q %v %v", autocreate, userid, created, err)
		}
	}
	// An existing record is the administrator's; a login does not rewrite it.
	if cfg.Users["jdoe@corp"].Email != "old@example.com" {
		t.Error("login changed the stored e-mail address")
	}
}

func TestApplyLoginWithoutAutocreateRefusesUnknownUser(t *testing.T) {
	cfg := usercfg.New()
	_, _, err := ApplyLogin(cfg, "corp", &Identity{Username: "jdoe"}, false)
	if err == nil || err.Error() != "user jdoe@corp does not exist" || !errors.Is(err, usercfg.ErrNotFound) {
		t.Fatalf("error %v", err)
	}
	if len(cfg.Users) != 0 {
		t.Error("user added without autocreate")
	}
}

func TestApplyLoginAutocreatesEnabledUserWithProfile(t *testing.T) {
	cfg := usercfg.New()
	id := &Identity{Username: "jane.doe@example.com", Email: "jane.doe@example.com", Firstname: "Jane", Lastname: "Doe"}
	userid, created, err := ApplyLogin(cfg, "corp", id, true)
	if err != nil || !created || userid != "jane.doe@example.com@corp" {
		t.Fatalf("%q %v %v", userid, created, err)
	}
	u := cfg.Users[userid]
	if u == nil || !u.Enable || u.Email != id.Email || u.Firstname != "Jane" || u.Lastname != "Doe" {
		t.Fatalf("created %+v", u)
	}
	// An address user.cfg cannot hold is dropped rather than failing the login.
	userid, created, err = ApplyLogin(cfg, "corp", &Identity{Username: "odd", Email: "a:b@example.com"}, true)
	if err != nil || !created || cfg.Users[userid].Email != "" {
		t.Fatalf("odd address: %q %v %v", userid, created, err)
	}
}

func TestApplyLoginRejectsInvalidUserID(t *testing.T) {
	if _, _, err := ApplyLogin(usercfg.New(), "corp", &Identity{Username: "a/b"}, true); err == nil {
		t.Fatal("user name with '/' accepted")
	}
}

func TestGroupIDsSuffixRealmAndDropInvalid(t *testing.T) {
	ids, invalid := GroupIDs("corp", []string{"ops", "admins", "ops", "ops team", "dev.eu"})
	if !slices.Equal(ids, []string{"admins-corp", "dev.eu-corp", "ops-corp"}) || !slices.Equal(invalid, []string{"ops team"}) {
		t.Errorf("ids %q, invalid %q", ids, invalid)
	}
}

func TestApplyGroups(t *testing.T) {
	setup := func(t *testing.T) *usercfg.Config {
		cfg := usercfg.New()
		for _, g := range []string{"admins-corp", "local"} {
			if err := cfg.AddGroup(usercfg.Group{ID: g}); err != nil {
				t.Fatal(err)
			}
		}
		if err := cfg.AddUser(usercfg.User{ID: "jdoe@corp", Enable: true, Groups: []string{"local"}}); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	names := []string{"admins", "ops", "bad name"}
	for _, tc := range []struct {
		name                  string
		autocreate, overwrite bool
		want                  []string
		warnings              int
	}{
		{"existing only, appended", false, false, []string{"admins-corp", "local"}, 2},
		{"autocreate", true, false, []string{"admins-corp", "local", "ops-corp"}, 1},
		{"overwrite", false, true, []string{"admins-corp"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := setup(t)
			changed, warnings, err := ApplyGroups(cfg, "corp", "jdoe@corp", names, tc.autocreate, tc.overwrite)
			if err != nil || !changed {
				t.Fatalf("changed %v, err %v", changed, err)
			}
			if got := cfg.Users["jdoe@corp"].Groups; !slices.Equal(got, tc.want) {
				t.Errorf("groups %q, want %q", got, tc.want)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q", warnings)
			}
			if _, ok := cfg.Groups["ops-corp"]; ok != tc.autocreate {
				t.Errorf("group ops-corp exists: %v", ok)
			}
			// A second identical login changes nothing.
			changed, _, err = ApplyGroups(cfg, "corp", "jdoe@corp", names, tc.autocreate, tc.overwrite)
			if err != nil || changed {
				t.Errorf("repeat: changed %v, err %v", changed, err)
			}
		})
	}
	if _, _, err := ApplyGroups(usercfg.New(), "corp", "ghost@corp", names, true, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown user: %v", err)
	}
}
