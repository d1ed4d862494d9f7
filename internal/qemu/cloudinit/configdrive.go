package cloudinit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// configDriveENI is openstack/content/0000: the network in Debian
// interfaces(5) syntax, which the meta data points to. Every stanza names
// the card's MAC (hwaddress) because cloudbase-init matches cards by it
// and cloud-init uses it to find the card behind ethN. Windows gets the
// DNS settings in each static stanza, where cloudbase-init looks for
// them; Linux gets them once, on the loopback stanza.
func configDriveENI(p *plan) string {
	var b strings.Builder
	const opt = "        "
	dns := func() {
		if len(p.nameservers) > 0 {
			b.WriteString(opt + "dns-nameservers " + strings.Join(p.nameservers, " ") + "\n")
		}
		if len(p.search) > 0 {
			b.WriteString(opt + "dns-search " + strings.Join(p.search, " ") + "\n")
		}
	}
	b.WriteString("auto lo\niface lo inet loopback\n")
	if !p.windows {
		dns()
	}
	for _, n := range p.nics {
		b.WriteString("\nauto " + n.name + "\n")
		stanza := func(family string, a Addressing, mask string) {
			switch a.Mode {
			case ModeDHCP, ModeSLAAC, ModeManual:
				b.WriteString("iface " + n.name + " " + family + " " + a.Mode + "\n")
			case ModeStatic:
				b.WriteString("iface " + n.name + " " + family + " static\n")
				b.WriteString(opt + "hwaddress ether " + n.mac + "\n")
				b.WriteString(opt + "address " + a.Prefix.Addr().String() + "\n")
				b.WriteString(opt + "netmask " + mask + "\n")
				if a.Gateway.IsValid() {
					b.WriteString(opt + "gateway " + a.Gateway.String() + "\n")
				}
				if p.windows {
					dns()
				}
			}
		}
		stanza("inet", n.cfg.IPv4, netmask4(n.cfg.IPv4.Prefix.Bits()))
		stanza("inet6", n.cfg.IPv6, strconv.Itoa(n.cfg.IPv6.Prefix.Bits()))
	}
	return b.String()
}

// OpenStack network_data.json, which both cloud-init and cloudbase-init
// prefer over the interfaces file when it is present.
type ndLink struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	MAC  string `json:"ethernet_mac_address"`
}

type ndRoute struct {
	Network string `json:"network"`
	Netmask string `json:"netmask"`
	Gateway string `json:"gateway"`
}

type ndNetwork struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Link      string    `json:"link"`
	IPAddress string    `json:"ip_address,omitempty"`
	Netmask   string    `json:"netmask,omitempty"`
	Routes    []ndRoute `json:"routes,omitempty"`
}

type ndService struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

type networkData struct {
	Links    []ndLink    `json:"links"`
	Networks []ndNetwork `json:"networks"`
	Services []ndService `json:"services"`
}

func configDriveNetworkData(p *plan) string {
	nd := networkData{Links: []ndLink{}, Networks: []ndNetwork{}, Services: []ndService{}}
	for _, n := range p.nics {
		nd.Links = append(nd.Links, ndLink{ID: n.name, Type: "phy", MAC: n.mac})
		add := func(typ string, a Addressing, v6 bool) {
			nw := ndNetwork{ID: "network" + strconv.Itoa(len(nd.Networks)), Type: typ, Link: n.name}
			if a.Mode == ModeStatic {
				nw.IPAddress = a.Prefix.Addr().String()
				nw.Netmask = netmask4(a.Prefix.Bits())
				def := ndRoute{Network: "0.0.0.0", Netmask: "0.0.0.0"}
				if v6 {
					nw.Netmask = netmask6(a.Prefix.Bits())
					def = ndRoute{Network: "::", Netmask: "::"}
				}
				if a.Gateway.IsValid() {
					def.Gateway = a.Gateway.String()
					nw.Routes = []ndRoute{def}
				}
			}
			nd.Networks = append(nd.Networks, nw)
		}
		switch n.cfg.IPv4.Mode {
		case ModeDHCP:
			add("ipv4_dhcp", n.cfg.IPv4, false)
		case ModeStatic:
			add("ipv4", n.cfg.IPv4, false)
		}
		switch n.cfg.IPv6.Mode {
		case ModeDHCP:
			add("ipv6_dhcp", n.cfg.IPv6, true)
		case ModeSLAAC:
			add("ipv6_slaac", n.cfg.IPv6, true)
		case ModeStatic:
			add("ipv6", n.cfg.IPv6, true)
		}
	}
	for _, ns := range p.nameservers {
		nd.Services = append(nd.Services, ndService{Type: "dns", Address: ns})
	}
	return prettyJSON(nd)
}

// configDriveMetaJSON is meta_data.json. For cloudbase-init it also
// carries the host name, the user, the plain password (admin_pass, what
// its password plugin injects) and the SSH keys as SSH0, SSH1, ...
type configDriveMetaJSON struct {
	AdminPass     string            `json:"admin_pass,omitempty"`
	AdminUsername string            `json:"admin_username,omitempty"`
	Hostname      string            `json:"hostname,omitempty"`
	NetworkConfig contentPath       `json:"network_config"`
	PublicKeys    map[string]string `json:"public_keys,omitempty"`
	UUID          string            `json:"uuid"`
}

type contentPath struct {
	ContentPath string `json:"content_path"`
}

func configDriveMeta(p *plan, uuid string) string {
	m := configDriveMetaJSON{NetworkConfig: contentPath{"/content/0000"}, UUID: uuid}
	if p.windows {
		m.AdminPass, m.AdminUsername, m.Hostname = p.password, p.user, p.host
		if len(p.keys) > 0 {
			m.PublicKeys = map[string]string{}
			for i, k := range p.keys {
				m.PublicKeys["SSH"+strconv.Itoa(i)] = k
			}
		}
	}
	return prettyJSON(m)
}

func prettyJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// Only plain structs of strings reach here.
		panic("cloudinit: encode JSON: " + err.Error())
	}
	return b.String()
}
