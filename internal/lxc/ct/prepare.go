package ct

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/lxc/lxcconf"
	"github.com/hearth-virt/hearth/internal/network/guestport"
	"github.com/hearth-virt/hearth/internal/storage"
)

// values returns a section's keys as a map, for the parsers.
func sectionValues(sec *guestconf.Section) map[string]string {
	out := map[string]string{}
	for _, k := range sec.Keys() {
		out[k] = sec.Value(k)
	}
	return out
}

// prepare turns a configuration into what a start needs: the LXC
// configuration and the hooks' plan.
func (s *Service) prepare(ctx context.Context, vmid int, sec *guestconf.Section) (*lxcconf.Spec, *hook.Plan, error) {
	vals := sectionValues(sec)
	spec := &lxcconf.Spec{
		VMID: vmid, Arch: or(vals["arch"], "amd64"), OSType: or(vals["ostype"], "unmanaged"),
		Hostname: or(vals["hostname"], "CT"+strconv.Itoa(vmid)),
		LXCPath:  s.o.LXCPath, Hook: s.o.Hook, LXCConfigDir: s.o.LXCConfigDir,
		Unprivileged: vals["unprivileged"] == "1",
		Cgroup:       s.host.cgroup, Memsw: s.host.memsw, AppArmor: s.host.apparmor,
		MemoryMiB: atoiOr(vals["memory"], 512), SwapMiB: atoiOr(vals["swap"], 512),
		CPUUnits: atoiOr(vals["cpuunits"], 0),
		TTY:      atoiOr(vals["tty"], 2), Console: vals["console"] != "0", CMode: or(vals["cmode"], "tty"),
		Entrypoint: vals["entrypoint"], Debug: vals["debug"] == "1",
	}
	if v := vals["cpulimit"]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("cpulimit: %w", err)
		}
		spec.CPULimit = f
	}
	spec.CPUSet = s.cpuSet(vmid, atoiOr(vals["cores"], 0))
	if v := vals["features"]; v != "" {
		f, err := ctconf.ParseFeatures(v)
		if err != nil {
			return nil, nil, fmt.Errorf("features: %w", err)
		}
		spec.Features = lxcconf.Features{Nesting: f.Nesting.Or(false), Keyctl: f.Keyctl.Or(false), Fuse: f.Fuse.Or(false),
			MKNod: f.MKNod.Or(false), ForceRWSys: f.ForceRWSys.Or(false), Mount: f.Mount}
	}
	if v := vals["env"]; v != "" {
		spec.Env = strings.Split(v, "\x00")
	}
	for _, raw := range sec.Raw() {
		if raw.Key == "lxc.idmap" {
			m, err := ctconf.ParseIDMap(raw.Value)
			if err != nil {
				return nil, nil, fmt.Errorf("lxc.idmap: %w", err)
			}
			spec.IDMap = append(spec.IDMap, lxcconf.IDMap{Kind: m.Kind, Inside: m.Inside, Host: m.Host, N: m.N})
			continue
		}
		spec.Raw = append(spec.Raw, lxcconf.RawKey{Key: raw.Key, Value: raw.Value})
	}
	plan := &hook.Plan{VMID: vmid, Root: s.rootDir(vmid)}
	if spec.Unprivileged {
		plan.UIDBase, plan.GIDBase = rootIDs(spec.IDMap)
	}

	mps := ctconf.MountPoints(vals)
	for _, mp := range mps {
		m, err := s.mountOf(ctx, mp)
		if err != nil {
			return nil, nil, err
		}
		plan.Mounts = append(plan.Mounts, m)
	}
	if len(plan.Mounts) == 0 || plan.Mounts[0].Target != "/" {
		return nil, nil, fmt.Errorf("CT %d has no rootfs", vmid)
	}

	nets := ctconf.Nets(vals)
	var setupNets []hook.Net
	for _, n := range nets {
		spec.NICs = append(spec.NICs, lxcconf.NIC{Index: n.Index, Name: n.Name, HWAddr: n.HWAddr, MTU: n.MTU.Or(0)})
		if n.Bridge != "" {
			plan.NICs = append(plan.NICs, guestport.Port{
				Name: vethName(vmid, n.Index), Bridge: n.Bridge, MTU: n.MTU.Or(0), Tag: n.Tag.Or(0), Trunks: n.Trunks,
				LinkDown: n.LinkDown.Or(false), RateMBps: n.Rate.Or(0), Firewall: n.Firewall.Or(false),
			})
		}
		setupNets = append(setupNets, hook.Net{Index: n.Index, Name: n.Name, IP: n.IP, GW: n.GW, IP6: n.IP6, GW6: n.GW6, MTU: n.MTU.Or(0)})
	}
	if spec.OSType != "unmanaged" {
		plan.Setup = &hook.Setup{
			OSType: spec.OSType, Hostname: spec.Hostname, Nets: setupNets,
			Nameservers: strings.Fields(vals["nameserver"]), SearchDomain: vals["searchdomain"],
			Timezone: vals["timezone"],
		}
	}
	return spec, plan, nil
}

// mountOf resolves one mount point for the pre-start hook.
func (s *Service) mountOf(ctx context.Context, mp *ctconf.MountPoint) (hook.Mount, error) {
	target := mp.MP
	if mp.Key == "rootfs" {
		target = "/"
	}
	m := hook.Mount{Key: mp.Key, Target: target, ReadOnly: mp.RO.Or(false), Options: mp.MountOptions}
	switch {
	case mp.IsDevice():
		m.Source = mp.Volume
	case mp.IsBind():
		m.Source, m.Bind = mp.Volume, true
	default:
		a, err := s.attach(ctx, mp.Volume, "")
		if err != nil {
			return m, fmt.Errorf("%s: %w", mp.Key, err)
		}
		if a.Mount == nil {
			return m, fmt.Errorf("%s: volume %s cannot be mounted in a container", mp.Key, mp.Volume)
		}
		m.Source, m.FSType, m.Bind, m.Loop = a.Mount.Source, a.Mount.FSType, a.Mount.Bind, a.Mount.Loop
		m.Options = append(m.Options, a.Mount.Options...)
	}
	return m, nil
}

// attach opens a volume's storage and says how to reach the volume.
func (s *Service) attach(ctx context.Context, volid, snap string) (storage.Attachment, error) {
	sid, name, err := storage.ParseVolumeID(volid)
	if err != nil {
		return storage.Attachment{}, err
	}
	_, st, err := s.o.Storage.Open(ctx, sid)
	if err != nil {
		return storage.Attachment{}, err
	}
	return st.Attach(ctx, name, snap)
}

// vethName is the host end of a container NIC, as Proxmox VE names it.
func vethName(vmid, index int) string { return fmt.Sprintf("veth%di%d", vmid, index) }

// rootIDs are the host uid and gid of root inside a user namespace map.
func rootIDs(m []lxcconf.IDMap) (uid, gid int) {
	uid, gid = 100000, 100000
	for _, e := range m {
		if e.Inside == 0 && e.Kind == 'u' {
			uid = e.Host
		}
		if e.Inside == 0 && e.Kind == 'g' {
			gid = e.Host
		}
	}
	return uid, gid
}

// cpuSet picks the host CPUs for a container limited to cores CPUs,
// spread by vmid so that small containers do not all share CPU 0.
func (s *Service) cpuSet(vmid, cores int) string {
	n := s.host.cpus
	if cores <= 0 || cores >= n {
		return ""
	}
	var ids []string
	for i := 0; i < cores; i++ {
		ids = append(ids, strconv.Itoa((vmid+i)%n))
	}
	return strings.Join(ids, ",")
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func atoiOr(v string, def int) int {
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	return def
}
