package access

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/access/realm/ldap"
	"github.com/hearth-virt/hearth/internal/access/realm/openid"
	"github.com/hearth-virt/hearth/internal/access/tfa"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// setPAMPassword changes the password of a host account on this node, as
// Proxmox VE does for the pam realm: accounts are per host, so on a
// cluster each node keeps its own.
func (s *Service) setPAMPassword(ctx context.Context, userid, password string) error {
	name := userid[:strings.LastIndexByte(userid, '@')]
	cmd := exec.CommandContext(ctx, "chpasswd")
	// The password goes through stdin, never the command line, where every
	// local user could read it.
	cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("changing the host password of %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// directoryConfig reads an LDAP or Active Directory realm's settings with
// its bind password.
func (s *Service) directoryConfig(sec *sectioncfg.Section) (*ldap.Config, error) {
	secret, err := s.realmSecret(sec)
	if err != nil {
		return nil, err
	}
	return ldap.ParseConfig(*sec, secret)
}

// directoryLogin checks a password against an LDAP or AD realm.
func (s *Service) directoryLogin(ctx context.Context, sec *sectioncfg.Section, name, password string) error {
	cfg, err := s.directoryConfig(sec)
	if err != nil {
		return fmt.Errorf("realm %s is misconfigured: %w", sec.ID, err)
	}
	return cfg.Authenticate(ctx, name, password)
}

// validateRealm checks a realm's settings as its type reads them, before
// they are saved; with check, a directory must also accept the bind.
func (s *Service) validateRealm(ctx context.Context, sec *sectioncfg.Section, secret string, check bool) error {
	if v, ok := sec.Get("tfa"); ok {
		if _, err := tfa.RequiredType(v); err != nil {
			return api.ParamError("tfa", "%v", err)
		}
	}
	switch sec.Type {
	case "ldap", "ad":
		cfg, err := ldap.ParseConfig(*sec, secret)
		if err != nil {
			return api.ParamError("realm", "%v", err)
		}
		if v, ok := sec.Get("sync-defaults-options"); ok {
			if _, err := ldap.ParseSyncOptions(v); err != nil {
				return api.ParamError("sync-defaults-options", "%v", err)
			}
		}
		if check {
			if _, err := cfg.Fetch(ctx); err != nil {
				return api.ParamError("check-connection", "the directory did not answer as configured: %v", err)
			}
		}
	case "openid":
		if _, err := openid.ParseConfig(*sec, secret); err != nil {
			return api.ParamError("realm", "%v", err)
		}
	}
	return nil
}

// syncOptions merges the sync call's parameters over the realm's
// sync-defaults-options.
func syncOptions(cfg *ldap.Config, in *api.RealmSyncParams) (ldap.SyncOptions, error) {
	o := cfg.SyncDefaults
	if in.Scope != "" {
		o.Scope = in.Scope
	}
	if in.EnableNew != nil {
		o.EnableNew = *in.EnableNew
	}
	switch {
	case in.RemoveVanished != "":
		v, err := ldap.ParseSyncOptions("remove-vanished=" + in.RemoveVanished)
		if err != nil {
			return o, api.ParamError("remove-vanished", "%v", err)
		}
		o.RemoveVanished = v.RemoveVanished
	case in.Full != nil || in.Purge != nil:
		o.RemoveVanished = nil
		if in.Full != nil && *in.Full {
			o.RemoveVanished = append(o.RemoveVanished, ldap.VanishedEntry, ldap.VanishedProperties)
		}
		if in.Purge != nil && *in.Purge {
			o.RemoveVanished = append(o.RemoveVanished, ldap.VanishedACL)
		}
		slices.Sort(o.RemoveVanished)
	}
	if o.Scope == "" {
		return o, api.ParamError("scope", "say what to sync (users, groups or both), here or in the realm's sync-defaults-options")
	}
	o.DryRun = in.DryRun
	return o, nil
}

// syncDomain copies a directory's users and groups into user.cfg, as a task.
func (s *Service) syncDomain(_ context.Context, c *api.Call, in *api.RealmSyncParams) (api.Task, error) {
	st, err := s.current()
	if err != nil {
		return api.Task{}, err
	}
	sec := st.domains.find(in.Realm)
	if sec == nil {
		return api.Task{}, api.NotFound("realm %s does not exist", in.Realm)
	}
	if sec.Type != "ldap" && sec.Type != "ad" {
		return api.Task{}, api.ParamError("realm", "only LDAP and Active Directory realms can be synced; %s is a %s realm", in.Realm, sec.Type)
	}
	cfg, err := s.directoryConfig(sec)
	if err != nil {
		return api.Task{}, api.ParamError("realm", "%v", err)
	}
	opts, err := syncOptions(cfg, in)
	if err != nil {
		return api.Task{}, err
	}
	return api.Task{Type: "auth-realm-sync", ID: in.Realm, Run: func(ctx context.Context, log api.TaskLog) error {
		log.Printf("reading users and groups of realm %s (%s)", in.Realm, opts.String())
		dir, err := cfg.Fetch(ctx)
		if err != nil {
			return err
		}
		log.Printf("the directory has %d users and %d groups", len(dir.Users), len(dir.Groups))
		var res ldap.SyncResult
		err = s.edit(ctx, func(t *txn) error {
			users, err := t.Users()
			if err != nil {
				return err
			}
			res, err = ldap.ApplySync(users, in.Realm, dir, cfg.SyncAttributes, opts)
			return err
		})
		if err != nil {
			return err
		}
		for _, line := range res.Log {
			log.Printf("%s", line)
		}
		if opts.DryRun {
			log.Printf("dry run: nothing was changed")
		}
		log.Printf("users: %d added, %d updated, %d removed; groups: %d added, %d updated, %d removed",
			len(res.AddedUsers), len(res.UpdatedUsers), len(res.RemovedUsers), len(res.AddedGroups), len(res.UpdatedGroups), len(res.RemovedGroups))
		if !opts.DryRun {
			s.auditChange(c, "realm synced", "realm", in.Realm, "users-added", len(res.AddedUsers), "users-removed", len(res.RemovedUsers))
		}
		return nil
	}}, nil
}
