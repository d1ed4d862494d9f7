package zfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// lio drives a Linux LIO target with targetcli. The target's saved
// configuration (saveconfig.json) is read once per operation and kept up
// to date with what the operation changes, like Proxmox VE's LIO module
// does with its short-lived cache.
type lio struct {
	s      *Storage
	luns   []LIOLun
	loaded bool
}

const (
	targetcli = "/usr/bin/targetcli"
	backstore = "/backstores/block"
)

// The places targetcli saves its configuration (Debian, then others).
var lioConfigFiles = []string{"/etc/rtslib-fb-target/saveconfig.json", "/etc/target/saveconfig.json"}

// LIOLun is a LUN of the storage's target portal group.
type LIOLun struct {
	Index         int
	StorageObject string // /backstores/block/<name>
}

// ParseLIOConfig reads the LUNs of target portal group tpg (tpgN) of
// iSCSI target wwn from a targetcli saveconfig.json.
func ParseLIOConfig(data []byte, wwn, tpg string) ([]LIOLun, error) {
	tag, err := strconv.Atoi(strings.TrimPrefix(tpg, "tpg"))
	if err != nil || !strings.HasPrefix(tpg, "tpg") {
		return nil, fmt.Errorf("invalid target portal group %q: expected tpg<N>", tpg)
	}
	var cfg struct {
		Targets []struct {
			Fabric string `json:"fabric"`
			WWN    string `json:"wwn"`
			TPGs   []struct {
				Tag  int `json:"tag"`
				LUNs []struct {
					Index         json.Number `json:"index"`
					StorageObject string      `json:"storage_object"`
				} `json:"luns"`
			} `json:"tpgs"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("cannot read the targetcli configuration: %w", err)
	}
	for _, t := range cfg.Targets {
		if t.Fabric != "iscsi" || t.WWN != wwn {
			continue
		}
		for _, g := range t.TPGs {
			if g.Tag != tag {
				continue
			}
			luns := []LIOLun{}
			for _, l := range g.LUNs {
				idx, err := strconv.Atoi(l.Index.String())
				if err != nil || idx < 0 || !strings.HasPrefix(l.StorageObject, backstore+"/") {
					return nil, fmt.Errorf("invalid LUN definition in the targetcli configuration: index %q, storage object %q", l.Index, l.StorageObject)
				}
				luns = append(luns, LIOLun{Index: idx, StorageObject: l.StorageObject})
			}
			return luns, nil
		}
	}
	return nil, fmt.Errorf("target portal group %s of target %s not found in the targetcli configuration", tpg, wwn)
}

// load reads the target's configuration unless this operation already did.
func (l *lio) load(ctx context.Context) error {
	if l.loaded {
		return nil
	}
	for _, f := range lioConfigFiles {
		out, err := l.s.remote(ctx, "cat", f)
		if err != nil {
			if strings.Contains(exitStderr(err), "No such file or directory") {
				continue
			}
			return err
		}
		if len(strings.TrimSpace(string(out))) == 0 {
			continue
		}
		if l.luns, err = ParseLIOConfig(out, l.s.target, l.s.tpg); err != nil {
			return err
		}
		l.loaded = true
		return nil
	}
	return fmt.Errorf("no targetcli configuration on %s (%s); is targetcli installed?", l.s.host, strings.Join(lioConfigFiles, ", "))
}

// targetcli runs targetcli on the target host.
func (l *lio) targetcli(ctx context.Context, args ...string) (string, error) {
	out, err := l.s.remote(ctx, append([]string{"--", targetcli}, args...)...)
	return string(out), err
}

// prefix is what Proxmox VE puts before the zvol name in a backstore
// name, so that zvols of several pools never clash: the pool with '/'
// turned into '-', and a '-'.
func (l *lio) prefix() string { return strings.ReplaceAll(l.s.pool, "/", "-") + "-" }

var lioVolRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// backstoreName finds the backstore of device dev: <prefix><zvol> as
// Proxmox VE names them, or plain <zvol> as older versions did. It
// returns "" for a path that is not a zvol of the pool.
func (l *lio) backstoreName(dev string) string {
	vol, ok := strings.CutPrefix(dev, l.s.base()+"/"+l.s.pool+"/")
	if !ok || !lioVolRE.MatchString(vol) {
		return ""
	}
	for _, lun := range l.luns {
		if lun.StorageObject == backstore+"/"+l.prefix()+vol {
			return l.prefix() + vol
		}
	}
	return vol
}

func (l *lio) find(dev string) (LIOLun, string, bool) {
	name := l.backstoreName(dev)
	if name == "" {
		return LIOLun{}, "", false
	}
	for _, lun := range l.luns {
		if lun.StorageObject == backstore+"/"+name {
			return lun, name, true
		}
	}
	return LIOLun{}, name, false
}

func (l *lio) listLU(ctx context.Context, dev string) (string, error) {
	if err := l.load(ctx); err != nil {
		return "", err
	}
	if _, _, ok := l.find(dev); ok {
		return dev, nil
	}
	return "", nil
}

func (l *lio) listView(ctx context.Context, lu string) (int, error) {
	if err := l.load(ctx); err != nil {
		return 0, err
	}
	if lun, _, ok := l.find(lu); ok {
		return lun.Index, nil
	}
	return 0, fmt.Errorf("no LUN exports %s", lu)
}

var createdLUNRE = regexp.MustCompile(`LUN (\d+)`)

// createLU makes a block backstore for the zvol with unmap support and a
// LUN for it in the portal group, then saves the configuration (targetcli
// does not always save on exit). The backstore is deleted again if the
// LUN cannot be made.
func (l *lio) createLU(ctx context.Context, dev string) (string, error) {
	if err := l.load(ctx); err != nil {
		return "", err
	}
	if _, _, ok := l.find(dev); ok {
		return "", fmt.Errorf("%s is already exported as a LUN", dev)
	}
	vol, ok := strings.CutPrefix(dev, l.s.base()+"/"+l.s.pool+"/")
	if !ok || !lioVolRE.MatchString(vol) {
		return "", fmt.Errorf("%s is not a zvol of %s below %s", dev, l.s.pool, l.s.base())
	}
	name := l.prefix() + vol
	if _, err := l.targetcli(ctx, backstore, "create", "name="+name, "dev="+dev); err != nil {
		return "", err
	}
	undo := func(err error) (string, error) {
		if _, derr := l.targetcli(ctx, backstore, "delete", name); derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting the backstore again failed: %w", derr))
		}
		return "", err
	}
	if _, err := l.targetcli(ctx, backstore+"/"+name, "set", "attribute", "emulate_tpu=1"); err != nil {
		return undo(err)
	}
	out, err := l.targetcli(ctx, "/iscsi/"+l.s.target+"/"+l.s.tpg+"/luns/", "create", backstore+"/"+name)
	if err != nil {
		return undo(err)
	}
	m := createdLUNRE.FindStringSubmatch(out)
	if m == nil {
		return undo(fmt.Errorf("targetcli did not say which LUN it created: %q", out))
	}
	idx, _ := strconv.Atoi(m[1])
	l.luns = append(l.luns, LIOLun{Index: idx, StorageObject: backstore + "/" + name})
	l.save(ctx)
	return dev, nil
}

// save asks targetcli to save its configuration; failing to is only
// logged, as in Proxmox VE, because the running target is already right.
func (l *lio) save(ctx context.Context) {
	if _, err := l.targetcli(ctx, "saveconfig"); err != nil {
		l.s.log.Warn("targetcli saveconfig failed", "storage", l.s.id, "err", err)
	}
}

// deleteLU removes the LUN and its backstore.
func (l *lio) deleteLU(ctx context.Context, lu string) error {
	if err := l.load(ctx); err != nil {
		return err
	}
	lun, name, ok := l.find(lu)
	if !ok {
		return nil
	}
	if _, err := l.targetcli(ctx, "/iscsi/"+l.s.target+"/"+l.s.tpg+"/luns/", "delete", "lun"+strconv.Itoa(lun.Index)); err != nil {
		return err
	}
	if _, err := l.targetcli(ctx, backstore, "delete", name); err != nil {
		return err
	}
	l.save(ctx)
	kept := l.luns[:0]
	for _, x := range l.luns {
		if x.StorageObject != lun.StorageObject {
			kept = append(kept, x)
		}
	}
	l.luns = kept
	return nil
}

// importLU exports the zvol anew; LIO keeps nothing on the zvol itself.
func (l *lio) importLU(ctx context.Context, dev string) error {
	_, err := l.createLU(ctx, dev)
	return err
}

// modifyLU: LIO sees a block device's new size by itself.
func (l *lio) modifyLU(context.Context, string, int64) error { return nil }

// addView: a LIO LUN is visible once it exists in the portal group.
func (l *lio) addView(context.Context, string) error { return nil }
