package cloudinit

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/pvetext"
)

// The citype values: the data-source layouts a drive can be written in.
const (
	NoCloud      = "nocloud"
	ConfigDrive2 = "configdrive2"
	OpenNebula   = "opennebula"
)

// MaxNICs bounds NIC.Index: ipconfig0 to ipconfig31, like net0 to net31.
const MaxNICs = 32

// Spec is everything a cloud-init drive is generated from. It holds the
// configuration values as they are stored, so that a caller can fill it
// straight from a VM config (see FromConfig).
type Spec struct {
	VMID int `json:"vmid"`
	// Name is the VM name, used as hostname; a dotted name is taken as the
	// fully qualified name. Empty means "VM<vmid>".
	Name string `json:"name,omitempty"`
	// Type is citype; empty picks configdrive2 for Windows and nocloud
	// otherwise.
	Type string `json:"type,omitempty"`
	User string `json:"user,omitempty"`
	// Password is cipassword as stored: a crypt(3) hash for Linux guests,
	// the plain text for Windows ones (cloudbase-init cannot take a hash).
	Password string `json:"password,omitempty"`
	// SSHKeys is sshkeys as stored: URI-escaped, one OpenSSH key a line.
	SSHKeys string `json:"sshkeys,omitempty"`
	// Upgrade is ciupgrade; note that the config's default is true.
	Upgrade     bool     `json:"upgrade,omitempty"`
	Nameservers []string `json:"nameservers,omitempty"`
	// SearchDomain is searchdomain: domains separated by spaces.
	SearchDomain string `json:"searchdomain,omitempty"`
	NICs         []NIC  `json:"nics,omitempty"`
	// Custom holds the contents of the cicustom snippets, keyed by user,
	// network, meta and vendor; each replaces the generated file.
	Custom map[string]string `json:"custom,omitempty"`
	OSType string            `json:"ostype,omitempty"`
}

// NIC is one network card: netN's MAC address and the raw ipconfigN value.
// A NIC without an ipconfig is left out of the network configuration, as
// Proxmox VE does.
type NIC struct {
	Index    int    `json:"index"`
	MAC      string `json:"mac,omitempty"`
	IPConfig string `json:"ipconfig,omitempty"`
}

// customKinds are the cicustom keys; all but vendor are also Dump kinds,
// vendor data having no generated counterpart.
var customKinds = []string{"meta", "network", "user", "vendor"}

// IsWindows reports whether ostype names a Windows release; those guests
// run cloudbase-init, which wants ConfigDrive2 and a plain password.
func IsWindows(ostype string) bool {
	switch ostype {
	case "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11":
		return true
	}
	return false
}

// Format resolves the layout the drive is written in: citype when set,
// otherwise the default for the OS type.
func Format(citype, ostype string) (string, error) {
	switch citype {
	case NoCloud, ConfigDrive2, OpenNebula:
		return citype, nil
	case "":
		if IsWindows(ostype) {
			return ConfigDrive2, nil
		}
		return NoCloud, nil
	}
	return "", fmt.Errorf("citype %q is not supported; allowed: %s, %s, %s", citype, ConfigDrive2, NoCloud, OpenNebula)
}

// Label is the ISO volume label each layout is found by in the guest.
func Label(format string) string {
	switch format {
	case ConfigDrive2:
		return "config-2"
	case OpenNebula:
		return "CONTEXT"
	}
	return "cidata"
}

// FromConfig fills a Spec from a VM configuration's flat key/value map
// (values as stored in the file), with custom holding the contents of the
// cicustom snippets the caller has read. The caller decides the DNS
// fallback: Proxmox VE uses the host's resolv.conf when neither nameserver
// nor searchdomain is set.
func FromConfig(vmid int, conf map[string]string, custom map[string]string) (Spec, error) {
	s := Spec{
		VMID:         vmid,
		Name:         conf["name"],
		Type:         conf["citype"],
		User:         conf["ciuser"],
		Password:     conf["cipassword"],
		SSHKeys:      conf["sshkeys"],
		Nameservers:  strings.Fields(conf["nameserver"]),
		SearchDomain: conf["searchdomain"],
		Custom:       custom,
		OSType:       conf["ostype"],
		Upgrade:      true,
	}
	if v, ok := conf["ciupgrade"]; ok {
		b, err := parseBool(v)
		if err != nil {
			return Spec{}, fmt.Errorf("ciupgrade: %w", err)
		}
		s.Upgrade = b
	}
	for key, v := range conf {
		idx, ok := indexOf(key, "net")
		if !ok {
			continue
		}
		mac, err := NetMAC(v)
		if err != nil {
			return Spec{}, fmt.Errorf("%s: %w", key, err)
		}
		s.NICs = append(s.NICs, NIC{Index: idx, MAC: mac, IPConfig: conf["ipconfig"+strconv.Itoa(idx)]})
	}
	slices.SortFunc(s.NICs, func(a, b NIC) int { return a.Index - b.Index })
	return s, nil
}

// indexOf parses keys like net3 into 3; leading zeros are not keys.
func indexOf(key, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n >= MaxNICs {
		return 0, false
	}
	return n, true
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; allowed: 1, 0, yes, no, true, false, on, off", v)
}

// plan is a Spec checked and resolved into what every layout needs.
type plan struct {
	format, host, fqdn string
	windows, upgrade   bool
	user, password     string
	keys               []string
	nameservers        []string
	search             []string
	nics               []nicPlan
	custom             map[string]string
}

type nicPlan struct {
	index int
	name  string // ethN: the name cloud-init gives the card it matched by MAC
	mac   string // lower case
	cfg   IPConfig
}

func (s *Spec) plan() (*plan, error) {
	format, err := Format(s.Type, s.OSType)
	if err != nil {
		return nil, err
	}
	p := &plan{
		format:      format,
		windows:     IsWindows(s.OSType),
		upgrade:     s.Upgrade,
		user:        s.User,
		password:    s.Password,
		keys:        SSHKeyLines(s.SSHKeys),
		nameservers: s.Nameservers,
		search:      strings.Fields(s.SearchDomain),
		custom:      s.Custom,
	}
	for k := range s.Custom {
		if !slices.Contains(customKinds, k) {
			return nil, fmt.Errorf("custom cloud-init file %q is not known; allowed: %s", k, strings.Join(customKinds, ", "))
		}
	}
	for _, ns := range p.nameservers {
		if a, err := netip.ParseAddr(ns); err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("nameserver %q is not an IP address", ns)
		}
	}
	for _, d := range p.search {
		if strings.Trim(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" || strings.HasPrefix(d, ".") {
			return nil, fmt.Errorf("search domain %q is not a DNS name (letters, digits, '-', '_' and '.')", d)
		}
	}
	p.host, p.fqdn = hostnames(s.Name, s.VMID, p.search)
	seen := map[int]bool{}
	for _, n := range s.NICs {
		if n.Index < 0 || n.Index >= MaxNICs {
			return nil, fmt.Errorf("NIC index %d is out of range; allowed: 0 to %d", n.Index, MaxNICs-1)
		}
		if seen[n.Index] {
			return nil, fmt.Errorf("NIC net%d is given twice", n.Index)
		}
		seen[n.Index] = true
		if strings.TrimSpace(n.IPConfig) == "" {
			continue
		}
		cfg, err := ParseIPConfig(n.IPConfig)
		if err != nil {
			return nil, fmt.Errorf("ipconfig%d: %w", n.Index, err)
		}
		mac, err := checkMAC(n.MAC)
		if err != nil {
			return nil, fmt.Errorf("net%d: %w", n.Index, err)
		}
		p.nics = append(p.nics, nicPlan{index: n.Index, name: "eth" + strconv.Itoa(n.Index), mac: mac, cfg: cfg})
	}
	slices.SortFunc(p.nics, func(a, b nicPlan) int { return a.index - b.index })
	return p, nil
}

// hostnames splits the VM name into the short hostname and, when known,
// the fully qualified one: a dotted name is already qualified, otherwise
// the first search domain qualifies it.
func hostnames(name string, vmid int, search []string) (host, fqdn string) {
	host = name
	if host == "" {
		host = "VM" + strconv.Itoa(vmid)
	}
	if short, _, ok := strings.Cut(host, "."); ok {
		return short, host
	}
	if len(search) > 0 {
		return host, host + "." + search[0]
	}
	return host, ""
}

// SSHKeyLines decodes the stored sshkeys value into its keys: one a line,
// trimmed, blank lines dropped.
func SSHKeyLines(stored string) []string {
	var keys []string
	for line := range strings.SplitSeq(pvetext.Decode(stored), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			keys = append(keys, line)
		}
	}
	return keys
}
