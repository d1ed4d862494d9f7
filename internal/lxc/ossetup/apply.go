package ossetup

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Result tells what Apply did.
type Result struct {
	// Changed lists the container paths that were rewritten, in order.
	Changed []string
	// Warnings describe settings that could not be carried out but do
	// not stop the container, such as a time zone the container lacks.
	Warnings []string
}

// netStyle is how a distribution configures its network.
type netStyle int

const (
	netIfupdown netStyle = iota // /etc/network/interfaces, Debian's ifupdown
	netBusybox                  // /etc/network/interfaces, busybox ifup
	netNetworkd                 // /etc/systemd/network/<name>.network
)

// Apply brings the distribution under root in line with s. It runs
// before every start and is idempotent: a second run with the same
// settings changes nothing. Files with a .pve-ignore companion are
// skipped. For ostype "unmanaged" nothing is done; ostypes without an
// implementation give *Unsupported before anything is touched.
//
// Which files are written:
//   - /etc/hostname (short name) and a marked section of /etc/hosts, when
//     s.Hostname is set;
//   - the network configuration of every interface with an address
//     setting: /etc/network/interfaces for debian, devuan, alpine and
//     busybox (busybox syntax for the last two) and for ubuntu before
//     17.10; systemd-networkd files for archlinux and for ubuntu from
//     17.10 on or whenever /etc/netplan exists, because netplan renders
//     to networkd there and ifupdown is not installed;
//   - a marked section of /etc/resolv.conf, when a nameserver or search
//     domain is set (the first time, it replaces the template's file);
//   - /etc/localtime as a relative symlink into /usr/share/zoneinfo, plus
//     /etc/timezone on Debian-like systems, when s.Timezone is set.
func Apply(root, ostype string, s Settings, shift IDShift) (Result, error) {
	var res Result
	if err := checkOSType(ostype); err != nil {
		return res, err
	}
	nets, err := s.check()
	if err != nil {
		return res, err
	}
	if ostype == "unmanaged" {
		return res, nil
	}
	switch ostype {
	case "debian", "devuan", "ubuntu", "alpine", "busybox", "archlinux":
	default:
		return res, &Unsupported{OSType: ostype, What: "container setup"}
	}
	r, err := OpenRoot(root, shift)
	if err != nil {
		return res, err
	}
	defer r.Close()
	a := &applier{r: r, ostype: ostype, s: s, nets: nets, res: &res}
	for _, step := range []func() error{a.hostname, a.hosts, a.network, a.dns, a.timezone} {
		if err := step(); err != nil {
			return res, err
		}
	}
	return res, nil
}

type applier struct {
	r      *RootFS
	ostype string
	s      Settings
	nets   []ifaceConf
	res    *Result
}

func (a *applier) warn(msg string) { a.res.Warnings = append(a.res.Warnings, msg) }

// ignored reports whether the user asked to keep name as it is.
func ignored(r *RootFS, name string) bool {
	dir, base := path.Split(path.Clean("/" + name))
	_, err := r.Lstat(dir + ".pve-ignore." + base)
	return err == nil
}

// write stores data at name unless it is ignored, and records a change.
func (a *applier) write(name, data string, perm fs.FileMode) error {
	if ignored(a.r, name) {
		return nil
	}
	changed, err := a.r.WriteFile(name, []byte(data), perm)
	if err != nil {
		return err
	}
	if changed {
		a.res.Changed = append(a.res.Changed, name)
	}
	return nil
}

// read returns the content of name, "" when it does not exist.
func (a *applier) read(name string) (string, error) {
	data, err := a.r.ReadFile(name)
	if isNotExist(err) {
		return "", nil
	}
	return string(data), err
}

func shortName(host string) string {
	short, _, _ := strings.Cut(host, ".")
	return short
}

func (a *applier) hostname() error {
	if a.s.Hostname == "" {
		return nil
	}
	return a.write("/etc/hostname", shortName(a.s.Hostname)+"\n", 0o644)
}

// hosts maps the host name to the primary address (net0's static one)
// or to 127.0.1.1, as Debian's installer does, and adds the loopback
// names when the user's part of the file lacks them.
func (a *applier) hosts() error {
	if a.s.Hostname == "" || ignored(a.r, "/etc/hosts") {
		return nil
	}
	old, err := a.read("/etc/hosts")
	if err != nil {
		return err
	}
	var body strings.Builder
	user := outsideBlock(old)
	if !hostsHasLocalhost(user, "127.0.0.1") {
		body.WriteString("127.0.0.1 localhost.localnet localhost\n")
	}
	if !hostsHasLocalhost(user, "::1") {
		body.WriteString("::1 localhost.localnet localhost\n")
	}
	names := a.s.Hostname
	if short := shortName(a.s.Hostname); short != a.s.Hostname {
		names += " " + short
	} else if doms := searchDomains(a.s.SearchDomain); len(doms) > 0 {
		var fq []string
		for _, d := range doms {
			fq = append(fq, a.s.Hostname+"."+d)
		}
		names = strings.Join(fq, " ") + " " + a.s.Hostname
	}
	fmt.Fprintf(&body, "%s %s\n", a.primaryIP(), names)
	return a.write("/etc/hosts", withBlock(old, body.String(), false), 0o644)
}

func hostsHasLocalhost(text, addr string) bool {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == addr && slices.Contains(f[1:], "localhost") {
			return true
		}
	}
	return false
}

func (a *applier) primaryIP() string {
	for _, c := range a.nets {
		if c.Index != 0 {
			continue
		}
		if c.v4 == "static" {
			return c.addr4.Addr().String()
		}
		if c.v6 == "static" {
			return c.addr6.Addr().String()
		}
	}
	return "127.0.1.1"
}

// style picks the network configuration the distribution reads.
func (a *applier) style() netStyle {
	switch a.ostype {
	case "alpine", "busybox":
		return netBusybox
	case "archlinux":
		return netNetworkd
	case "ubuntu":
		if a.r.IsDir("/etc/netplan") || atLeast(a.r.version(), 17, 10) {
			return netNetworkd
		}
	}
	return netIfupdown
}

func (a *applier) network() error {
	var managed []ifaceConf
	for _, c := range a.nets {
		if c.managed() {
			managed = append(managed, c)
		}
	}
	if len(managed) == 0 {
		return nil
	}
	style := a.style()
	if style == netNetworkd {
		if err := a.r.MkdirAll("/etc/systemd/network", 0o755); err != nil {
			return err
		}
		for _, c := range managed {
			if err := a.write("/etc/systemd/network/"+c.Name+".network", networkdUnit(c), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	const file = "/etc/network/interfaces"
	if ignored(a.r, file) {
		return nil
	}
	if err := a.r.MkdirAll("/etc/network", 0o755); err != nil {
		return err
	}
	old, err := a.read(file)
	if err != nil {
		return err
	}
	dialect := dialectDebian
	if style == netBusybox {
		dialect = dialectBusybox
	}
	return a.write(file, rewriteInterfaces(old, a.nets, dialect, a.warn), 0o644)
}

func (a *applier) dns() error {
	doms := searchDomains(a.s.SearchDomain)
	if len(a.s.Nameservers) == 0 && len(doms) == 0 {
		return nil
	}
	const file = "/etc/resolv.conf"
	if ignored(a.r, file) {
		return nil
	}
	old, err := a.read(file)
	if err != nil {
		return err
	}
	var body strings.Builder
	if len(doms) > 0 {
		fmt.Fprintf(&body, "search %s\n", strings.Join(doms, " "))
	}
	for _, ns := range a.s.Nameservers {
		fmt.Fprintf(&body, "nameserver %s\n", ns)
	}
	return a.write(file, withBlock(old, body.String(), true), 0o644)
}

func (a *applier) timezone() error {
	zone := a.s.Timezone
	if zone == "" {
		return nil
	}
	if zone == "host" {
		lt := a.s.hostLocaltime
		if lt == "" {
			lt = "/etc/localtime"
		}
		z, err := HostTimezone(lt)
		if err != nil {
			a.warn(fmt.Sprintf("timezone host: %v; time zone left unchanged", err))
			return nil
		}
		zone = z
	}
	zfile := "/usr/share/zoneinfo/" + zone
	if !a.r.IsRegular(zfile) {
		a.warn(fmt.Sprintf("timezone %s: the container has no %s (tzdata not installed?); time zone left unchanged", zone, zfile))
		return nil
	}
	if !ignored(a.r, "/etc/localtime") {
		changed, err := a.r.Symlink(".."+zfile, "/etc/localtime")
		if err != nil {
			return err
		}
		if changed {
			a.res.Changed = append(a.res.Changed, "/etc/localtime")
		}
	}
	switch a.ostype {
	case "debian", "devuan", "ubuntu":
		// tzdata's configuration script reads the zone name from here.
		return a.write("/etc/timezone", zone+"\n", 0o644)
	}
	return nil
}

// HostTimezone returns the zone name a localtime symlink (normally the
// host's /etc/localtime) points at, such as "Europe/Vienna".
func HostTimezone(localtime string) (string, error) {
	target, err := os.Readlink(localtime)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", localtime, err)
	}
	zone, ok := zoneFromPath(target)
	if !ok {
		// The link may go through another link before reaching zoneinfo.
		if resolved, err := filepath.EvalSymlinks(localtime); err == nil {
			zone, ok = zoneFromPath(resolved)
		}
	}
	if !ok {
		return "", fmt.Errorf("%s points to %s, which is not under a zoneinfo directory", localtime, target)
	}
	return zone, nil
}

func zoneFromPath(p string) (string, bool) {
	_, zone, ok := strings.Cut(p, "zoneinfo/")
	return zone, ok && zoneRE.MatchString(zone)
}
