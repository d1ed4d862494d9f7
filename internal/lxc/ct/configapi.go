package ct

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
)

// lxcOptions is the schema of every configuration key, built once.
var lxcOptions = sync.OnceValue(api.LXCOptions)

// typedValue is a configuration value as the API returns it: integers
// and booleans as JSON numbers, everything else as strings.
func typedValue(key, value string) any {
	s, ok := lxcOptions()[key]
	if !ok {
		return value
	}
	switch s.Type {
	case schema.Integer:
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			return n
		}
	case schema.Boolean:
		if value == "1" {
			return 1
		}
		if value == "0" {
			return 0
		}
	}
	return value
}

func (s *Service) getConfig(_ context.Context, _ *api.Call, in *api.VMConfigParams) (map[string]any, error) {
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return nil, err
	}
	out, err := c.View(in.Snapshot, in.Current, typedValue)
	if err != nil {
		return nil, err
	}
	// Raw lxc.* keys are part of the configuration too; Proxmox VE lists
	// them as one array of [key, value] pairs.
	if raw := c.Main().Raw(); len(raw) > 0 && in.Snapshot == "" {
		pairs := make([][2]string, len(raw))
		for i, r := range raw {
			pairs[i] = [2]string{r.Key, r.Value}
		}
		out["lxc"] = pairs
	}
	return out, nil
}

func (s *Service) pending(_ context.Context, _ *api.Call, in *api.CTParam) ([]api.VMPending, error) {
	c, err := s.repo.Load(in.VMID)
	if err != nil {
		return nil, err
	}
	return c.PendingRows(typedValue), nil
}

// metaKeys change nothing a running container sees: they are written at
// once whether it runs or not.
var metaKeys = []string{"description", "onboot", "startup", "protection", "tags", "lock"}

// liveKeys are applied to a running container through its cgroups.
var liveKeys = []string{"memory", "swap", "cpulimit", "cpuunits", "cores"}

func (s *Service) updateConfig(ctx context.Context, c *api.Call, in *api.CTConfigUpdateParams) (any, error) {
	values := api.Params(in.Config).ConfigValues(nil)
	deletes := splitList(in.Delete)
	reverts := splitList(in.Revert)
	if len(values) == 0 && len(deletes) == 0 && len(reverts) == 0 {
		return nil, api.Errorf(http.StatusBadRequest, "no options specified")
	}
	for _, k := range deletes {
		if _, ok := values[k]; ok {
			return nil, api.ParamError("delete", "cannot set and delete '%s' at the same time", k)
		}
	}
	if err := checkKeys(c, in.VMID, values, append(slices.Clone(deletes), reverts...)); err != nil {
		return nil, err
	}
	if err := s.checkMountPoints(ctx, c, in.VMID, values, ""); err != nil {
		return nil, err
	}
	unlock := s.repo.Lock(in.VMID)
	defer unlock()
	cf, err := s.repo.Load(in.VMID)
	if err != nil {
		return nil, err
	}
	if err := s.repo.CheckLock(cf, false); err != nil {
		return nil, err
	}
	if err := s.repo.CheckDigest(cf, in.Digest); err != nil {
		return nil, err
	}
	s.fillNewMACs(cf, values)
	// The whole configuration as it would be must validate, so a change
	// never leaves a file that cannot start.
	merged := sectionValues(cf.Main())
	for k, v := range values {
		merged[k] = v
	}
	for _, k := range deletes {
		delete(merged, k)
	}
	if _, _, err := ctconf.Validate(in.VMID, merged, true); err != nil {
		return nil, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	pid, running := s.running(in.VMID)
	f := cf.File
	for _, k := range reverts {
		f.Pending.Delete(k)
		f.RemovePendingDelete(k)
	}
	var live []string
	for _, k := range sortedKeys(values) {
		v := values[k]
		if strings.HasPrefix(k, "mp") || k == "rootfs" {
			mp, err := ctconf.ParseMountPoint(k, v)
			if err != nil {
				return nil, api.ParamError(k, "%v", err)
			}
			if sid, size, ok := newVolume(mp, ""); ok {
				if running {
					return nil, api.ParamError(k, "new volumes can be added while the container is stopped only")
				}
				vol, err := s.allocForUpdate(ctx, cf, k, v, sid, size)
				if err != nil {
					return nil, err
				}
				v = vol
			}
		}
		switch {
		case !running || slices.Contains(metaKeys, k):
			if old, had := f.Main.Get(k); had && old != v {
				s.detachVolume(cf, k, old)
			}
			if err := f.Main.Set(k, v); err != nil {
				return nil, api.ParamError(k, "%v", err)
			}
			f.Pending.Delete(k)
		case slices.Contains(liveKeys, k) || isNetKey(k):
			if err := f.Main.Set(k, v); err != nil {
				return nil, api.ParamError(k, "%v", err)
			}
			live = append(live, k)
		default:
			if err := f.Pending.Set(k, v); err != nil {
				return nil, api.ParamError(k, "%v", err)
			}
		}
	}
	for _, k := range deletes {
		old, had := f.Main.Get(k)
		switch {
		case !had:
			f.Pending.Delete(k)
		case !running || slices.Contains(metaKeys, k):
			f.Main.Delete(k)
			s.detachVolume(cf, k, old)
		case slices.Contains(liveKeys, k):
			f.Main.Delete(k)
			live = append(live, k)
		default:
			f.AddPendingDelete(k, false)
		}
	}
	if err := s.repo.Save(ctx, cf); err != nil {
		return nil, err
	}
	if running && len(live) > 0 {
		if err := s.applyLive(ctx, cf, pid, live); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func isNetKey(k string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(k, "net"))
	return strings.HasPrefix(k, "net") && err == nil && n >= 0
}

// mpVolume is the volume part of a mount point value.
func mpVolume(v string) string {
	vol, _, _ := strings.Cut(v, ",")
	return strings.TrimPrefix(vol, "volume=")
}

// fillNewMACs gives NICs without hwaddr the address they had, or a new one.
func (s *Service) fillNewMACs(cf *guestconf.Config, values map[string]string) {
	for k, v := range values {
		if !isNetKey(k) || strings.Contains(v, "hwaddr=") {
			continue
		}
		if old, err := ctconf.ParseNet(k, cf.Main().Value(k)); err == nil && old.HWAddr != "" {
			values[k] = v + ",hwaddr=" + old.HWAddr
			continue
		}
		one := map[string]string{k: v}
		s.fillGenerated(cf.VMID, one)
		values[k] = one[k]
	}
}

// allocForUpdate allocates the new volume of a mount point given as
// <storage>:<GiB> and returns the value naming it.
func (s *Service) allocForUpdate(ctx context.Context, cf *guestconf.Config, key, value, sid string, size int64) (string, error) {
	if sid == "" {
		return "", api.ParamError(key, "a new volume needs a storage: write <storage>:<size in GiB>")
	}
	uid, gid := 0, 0
	if cf.Main().Value("unprivileged") == "1" {
		uid, gid = 100000, 100000
	}
	mp, err := ctconf.ParseMountPoint(key, value)
	if err != nil {
		return "", api.ParamError(key, "%v", err)
	}
	vol, err := s.allocVolume(ctx, cf.VMID, sid, size, uid, gid, discardLog{})
	if err != nil {
		if vol != "" {
			_ = s.freeVolume(context.WithoutCancel(ctx), vol)
		}
		return "", fmt.Errorf("%s: %w", key, err)
	}
	mp.Volume, mp.Size = vol, ctconf.Some(size)
	return mp.String(), nil
}

// detachVolume keeps a container's own volume that a change took out of
// the configuration as unusedN, as Proxmox VE does.
func (s *Service) detachVolume(cf *guestconf.Config, key, old string) {
	if !strings.HasPrefix(key, "mp") && key != "rootfs" {
		return
	}
	vol := mpVolume(old)
	if !ownedBy(vol, cf.VMID) || stillMounted(cf, key, vol) {
		return
	}
	for i := range api.LXCMaxUnused {
		k := "unused" + strconv.Itoa(i)
		if _, taken := cf.Main().Get(k); !taken {
			_ = cf.Main().Set(k, vol)
			return
		}
	}
}

// stillMounted says whether another key than key mounts vol.
func stillMounted(cf *guestconf.Config, key, vol string) bool {
	for _, k := range cf.Main().Keys() {
		if k != key && (strings.HasPrefix(k, "mp") || k == "rootfs") && mpVolume(cf.Main().Value(k)) == vol {
			return true
		}
	}
	return false
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Warnf(string, ...any)  {}
func (discardLog) Progress(int64, int64) {}
