package cloudinit

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// openNebulaContext is context.sh: shell variable assignments read by the
// OpenNebula data source (cloud-init or one-context). Names follow Proxmox
// VE's; every NIC also gets its MAC and, for IPv6, the prefix length under
// the name cloud-init reads, so that cards are matched by MAC.
func openNebulaContext(p *plan) string {
	var b strings.Builder
	set := func(k, v string) { b.WriteString(k + "=" + shellValue(v) + "\n") }
	user := p.user
	if user == "" {
		user = "root"
	}
	set("USERNAME", user)
	if p.password != "" {
		set("CRYPTED_PASSWORD_BASE64", base64.StdEncoding.EncodeToString([]byte(p.password)))
	}
	if len(p.keys) > 0 {
		set("SSH_PUBLIC_KEY", strings.Join(p.keys, "\n"))
	}
	set("SET_HOSTNAME", p.host)
	if len(p.nameservers) > 0 {
		set("DNS", strings.Join(p.nameservers, " "))
	}
	if len(p.search) > 0 {
		set("SEARCH_DOMAIN", strings.Join(p.search, " "))
	}
	network := false
	for _, n := range p.nics {
		eth := "ETH" + strconv.Itoa(n.index)
		v4, v6 := n.cfg.IPv4, n.cfg.IPv6
		if !configures(v4) && !configures(v6) {
			continue // both families left to the guest
		}
		network = true
		set(eth+"_MAC", n.mac)
		switch v4.Mode {
		case ModeNone, ModeManual:
			// Without it the data source derives an IPv4 address from
			// the MAC, OpenNebula's convention.
			set(eth+"_METHOD", "skip")
		case ModeDHCP:
			set(eth+"_DHCP", "YES")
			set(eth+"_METHOD", "dhcp")
		case ModeStatic:
			set(eth+"_IP", v4.Prefix.Addr().String())
			set(eth+"_MASK", netmask4(v4.Prefix.Bits()))
			if v4.Gateway.IsValid() {
				set(eth+"_GATEWAY", v4.Gateway.String())
			}
		}
		switch v6.Mode {
		case ModeDHCP:
			set(eth+"_DHCP6", "YES")
			set(eth+"_IP6_METHOD", "dhcp")
		case ModeSLAAC:
			set(eth+"_AUTO6", "YES")
			set(eth+"_IP6_METHOD", "auto")
		case ModeStatic:
			bits := strconv.Itoa(v6.Prefix.Bits())
			set(eth+"_IP6", v6.Prefix.Addr().String())
			set(eth+"_MASK6", bits)
			set(eth+"_IP6_PREFIX_LENGTH", bits)
			if v6.Gateway.IsValid() {
				set(eth+"_GATEWAY6", v6.Gateway.String())
			}
		}
	}
	if network {
		set("NETWORK", "YES")
	}
	return b.String()
}

// configures reports whether an address family has settings to write.
func configures(a Addressing) bool {
	return a.Mode != ModeNone && a.Mode != ModeManual
}
