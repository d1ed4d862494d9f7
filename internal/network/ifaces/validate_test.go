package ifaces

import (
	"errors"
	"strings"
	"testing"
)

// fieldsOf returns the field → message map of a ValidationError.
func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v (%T), want a *ValidationError", err, err)
	}
	return ve.Fields()
}

func TestCreateRefusesWithTheFieldNamed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		params Params
		field  string
		msg    string // a part of the message
	}{
		{"port already a bond slave", "bond-vlan-aware",
			Params{"iface": "vmbr1", "type": "bridge", "bridge_ports": "eno1"},
			"bridge_ports", "eno1 is already a slave of bond bond0"},
		{"port used by two bridges", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "bridge_ports": "eno1"},
			"bridge_ports", "eno1 is already a port of bridge vmbr0"},
		{"bond slave already a bridge port", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "eno1 enp5s0"},
			"slaves", "eno1 is already a port of bridge vmbr0"},
		{"second IPv4 gateway", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "cidr": "10.0.0.1/24", "gateway": "10.0.0.254"},
			"gateway", "interface vmbr0 already has the IPv4 default gateway"},
		{"second IPv6 gateway", "ipv6-dhcp",
			Params{"iface": "vmbr1", "type": "bridge", "cidr6": "fd00::1/64", "gateway6": "fd00::fe"},
			"gateway6", "interface vmbr0 already has the IPv6 default gateway"},
		{"gateway without address", "masquerade",
			Params{"iface": "vmbr1", "type": "bridge", "gateway": "10.0.0.254"},
			"gateway", "needs an address on the same interface"},
		{"vlan on a missing device by name", "pve-default",
			Params{"iface": "eno9.5", "type": "vlan"},
			"iface", "raw device eno9 of VLAN eno9.5 does not exist"},
		{"vlan on a missing raw device", "pve-default",
			Params{"iface": "vlan7", "type": "vlan", "vlan-raw-device": "bond3"},
			"vlan-raw-device", "raw device bond3 of VLAN vlan7 does not exist"},
		{"vlan on a bridge that is not VLAN aware", "pve-default",
			Params{"iface": "vmbr0.5", "type": "vlan"},
			"iface", "bridge vmbr0 is not VLAN aware"},
		{"vlan without id", "pve-default",
			Params{"iface": "mgmt", "type": "vlan", "vlan-raw-device": "eno1"},
			"vlan-id", "VLAN mgmt has no VLAN id"},
		{"vlan without raw device", "pve-default",
			Params{"iface": "vlan9", "type": "vlan"},
			"vlan-raw-device", "VLAN vlan9 has no raw device"},
		{"vlan id too big", "pve-default",
			Params{"iface": "mgmt", "type": "vlan", "vlan-raw-device": "eno1", "vlan-id": int64(4095)},
			"vlan-id", "VLAN ids are 1 to 4094"},
		{"vlan id in the name too big", "pve-default",
			Params{"iface": "eno1.4095", "type": "vlan"},
			"iface", "VLAN id 4095 of eno1.4095 is out of range"},
		{"vlan name and vlan-id disagree", "pve-default",
			Params{"iface": "eno1.5", "type": "vlan", "vlan-id": 6},
			"vlan-id", "contradicts"},
		{"duplicate address given as cidr", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "cidr": "192.168.10.2/24"},
			"cidr", "address 192.168.10.2 is already used on interface vmbr0"},
		{"duplicate IPv6 address", "ipv6-dhcp",
			Params{"iface": "vmbr1", "type": "bridge", "address6": "2001:db8:10::2", "netmask6": 64},
			"address6", "address 2001:db8:10::2 is already used on interface vmbr0"},
		{"name starting with a digit", "pve-default",
			Params{"iface": "1br", "type": "bridge"}, "iface", "is not a valid interface name"},
		{"name with a dash", "pve-default",
			Params{"iface": "vm-br", "type": "bridge"}, "iface", "is not a valid interface name"},
		{"bridge name too long", "pve-default",
			Params{"iface": "bridgenumber1", "type": "bridge"}, "iface", "up to 9 letters"},
		{"bond not named bondN", "pve-default",
			Params{"iface": "uplink", "type": "bond", "slaves": "enp5s0"}, "iface", "bond followed by a number"},
		{"eth with a virtual name", "pve-default",
			Params{"iface": "dummy0", "type": "eth"}, "iface", "not a physical interface name"},
		{"existing interface", "pve-default",
			Params{"iface": "vmbr0", "type": "bridge"}, "iface", "interface vmbr0 already exists"},
		{"existing host NIC", "pve-default",
			Params{"iface": "enp5s0", "type": "eth"}, "iface", "interface enp5s0 already exists"},
		{"unknown bond mode", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "enp5s0", "bond_mode": "fastest"},
			"bond_mode", `unknown bond mode "fastest"`},
		{"OVS mode on a Linux bond", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "enp5s0", "bond_mode": "balance-slb"},
			"bond_mode", "use one of balance-rr, active-backup"},
		{"bond-primary outside the bond", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "enp5s0", "bond_mode": "active-backup", "bond-primary": "enp3s0f0"},
			"bond-primary", "bond-primary enp3s0f0 is not a slave of bond0"},
		{"bond-primary without active-backup", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "enp5s0", "bond-primary": "enp5s0"},
			"bond-primary", "only used with bond_mode active-backup"},
		{"hash policy without xor or lacp", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "enp5s0", "bond_mode": "active-backup", "bond_xmit_hash_policy": "layer2"},
			"bond_xmit_hash_policy", "only used with bond_mode balance-xor or 802.3ad"},
		{"bond slave missing", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "enp9s0"},
			"slaves", "bond slave enp9s0 of bond0 does not exist"},
		{"bond slave is a bridge", "pve-default",
			Params{"iface": "bond0", "type": "bond", "slaves": "vmbr0"},
			"slaves", "vmbr0 is a bridge and cannot be a slave"},
		{"bridge port missing", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "bridge_ports": "eno7"},
			"bridge_ports", "bridge port eno7 of vmbr1 does not exist"},
		{"bridge port is itself", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "bridge_ports": "vmbr1"},
			"bridge_ports", "cannot be a port of itself"},
		{"address without netmask", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "address": "10.1.1.1"},
			"netmask", "address 10.1.1.1 needs a netmask"},
		{"netmask with holes", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "address": "10.1.1.1", "netmask": "255.0.255.0"},
			"netmask", "not a valid IPv4 netmask"},
		{"address with a prefix", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "address": "10.1.1.1/24"},
			"address", "not a valid IPv4 address"},
		{"IPv6 given as IPv4", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "cidr": "fd00::1/64"},
			"cidr", "not a valid IPv4 CIDR"},
		{"cidr and address disagree", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "cidr": "10.1.1.1/24", "address": "10.1.1.2"},
			"cidr", "disagree"},
		{"network address", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "cidr": "10.1.1.0/24"},
			"cidr", "10.1.1.0 is the network address of 10.1.1.0/24"},
		{"broadcast address", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "address": "10.1.1.255", "netmask": "255.255.255.0"},
			"address", "10.1.1.255 is the broadcast address"},
		{"bridge vids without VLAN awareness", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "bridge_vids": "10-20"},
			"bridge_vids", "VLAN-aware bridge"},
		{"bridge vids out of range", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "bridge_vlan_aware": 1, "bridge_vids": "1-20"},
			"bridge_vids", "bridge VLAN ids are 2 to 4094"},
		{"mtu too small", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "mtu": 576}, "mtu", "use 1280 to 65520"},
		{"setting of another type", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "slaves": "eno1"}, "slaves", "applies to bond interfaces only"},
		{"unknown parameter", "pve-default",
			Params{"iface": "vmbr1", "type": "bridge", "bridge_color": "blue"}, "bridge_color", "unknown parameter"},
		{"type missing", "pve-default", Params{"iface": "vmbr1"}, "type", "the interface type is required"},
		{"SDN type", "pve-default", Params{"iface": "vnet1", "type": "vnet"}, "type", "SDN configuration"},
		{"OVS port without bridge", "ovs",
			Params{"iface": "vlan60", "type": "OVSIntPort"}, "ovs_bridge", "needs ovs_bridge"},
		{"OVS port on a Linux bridge", "pve-default",
			Params{"iface": "int0", "type": "OVSIntPort", "ovs_bridge": "vmbr0"}, "ovs_bridge", "vmbr0 is a bridge, not an OVS bridge"},
		{"OVS bond with a Linux-only mode", "ovs",
			Params{"iface": "bond1", "type": "OVSBond", "ovs_bridge": "vmbr1", "ovs_bonds": "enp5s0", "bond_mode": "balance-xor"},
			"bond_mode", "use one of active-backup, balance-slb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := inputFiles(t)[tc.file]
			f := mustParse(t, data)
			err := f.Create(tc.params, testHost())
			if err == nil {
				t.Fatalf("accepted:\n%s", f.Bytes())
			}
			fields := fieldsOf(t, err)
			if !strings.Contains(fields[tc.field], tc.msg) {
				t.Errorf("errors %q, want %s to say %q", fields, tc.field, tc.msg)
			}
			if string(f.Bytes()) != string(data) {
				t.Error("the refused edit changed the file")
			}
		})
	}
}

func TestUpdateRefusesWithTheFieldNamed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		iface  string
		params Params
		del    []string
		field  string
		msg    string
	}{
		{"type change", "pve-default", "vmbr0", Params{"type": "bond"}, nil, "type", "vmbr0 is a bridge; an interface's type cannot be changed"},
		{"set and delete", "pve-default", "vmbr0", Params{"mtu": 9000}, []string{"mtu"}, "delete", "both set and deleted"},
		{"delete unknown", "pve-default", "vmbr0", nil, []string{"colour"}, "delete", `cannot delete "colour"`},
		{"netmask alone keeps the address", "pve-default", "vmbr0", Params{"netmask": "255.255.255.255"}, nil, "", ""},
		{"netmask without any address", "pve-default", "eno1", Params{"netmask": "24"}, nil, "address", "netmask needs an address"},
		{"address delete leaves the gateway", "pve-default", "vmbr0", nil, []string{"address"}, "gateway", "needs an address"},
		{"vlan-aware off under a VLAN", "bond-vlan-aware", "vmbr0", Params{"bridge_vlan_aware": false}, []string{"bridge_vids"}, "iface", "bridge vmbr0 is not VLAN aware"},
		{"bond-primary deleted slave", "vlan-raw-device", "bond0", Params{"slaves": "eno2"}, nil, "bond-primary", "bond-primary eno1 is not a slave of bond0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := inputFiles(t)[tc.file]
			f := mustParse(t, data)
			err := f.Update(tc.iface, tc.params, tc.del, testHost())
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted:\n%s", f.Bytes())
			}
			if fields := fieldsOf(t, err); !strings.Contains(fields[tc.field], tc.msg) {
				t.Errorf("errors %q, want %s to say %q", fields, tc.field, tc.msg)
			}
		})
	}
}

func TestValidateFindsProblemsInAFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want []FieldError // Iface and Field; Msg is matched as a substring
	}{
		{"port on two bridges",
			"iface vmbr0 inet manual\n\tbridge-ports eno1\n\niface vmbr1 inet manual\n\tbridge-ports eno1\n",
			[]FieldError{{"vmbr1", "bridge_ports", "eno1 is already a port of bridge vmbr0"}}},
		{"bond slave bridged",
			"iface bond0 inet manual\n\tbond-slaves eno1 eno2\n\niface vmbr0 inet manual\n\tbridge-ports eno2\n",
			[]FieldError{{"vmbr0", "bridge_ports", "eno2 is already a slave of bond bond0"}}},
		{"two gateways",
			"iface eno1 inet static\n\taddress 10.0.0.2/24\n\tgateway 10.0.0.1\n\niface eno2 inet static\n\taddress 10.0.1.2/24\n\tgateway 10.0.1.1\n",
			[]FieldError{{"eno2", "gateway", "interface eno1 already has the IPv4 default gateway"}}},
		{"duplicate address",
			"iface eno1 inet static\n\taddress 10.0.0.2/24\n\niface eno2 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.0.0\n",
			[]FieldError{{"eno2", "address", "address 10.0.0.2 is already used on interface eno1"}}},
		{"static address without netmask",
			"iface eno1 inet static\n\taddress 10.0.0.2\n",
			[]FieldError{{"eno1", "netmask", "has no netmask"}}},
		{"bad address and gateway",
			"iface eno1 inet static\n\taddress 10.0.0.300/24\n\tgateway fe80::1\n",
			[]FieldError{{"eno1", "address", "is not a valid IPv4 address"}, {"eno1", "gateway", "is not a valid IPv4 address"}}},
		{"bad name",
			"iface my-nic inet manual\n",
			[]FieldError{{"my-nic", "iface", "not a valid interface name"}}},
		{"unknown numeric bond mode",
			"iface bond0 inet manual\n\tbond-slaves eno1\n\tbond-mode 9\n",
			[]FieldError{{"bond0", "bond_mode", `unknown bond mode "9"`}}},
		{"vlan on missing device",
			"iface eno7.5 inet manual\n",
			[]FieldError{{"eno7.5", "iface", "raw device eno7 of VLAN eno7.5 does not exist"}}},
		{"vlan id zero",
			"iface eno1.0 inet manual\n",
			[]FieldError{{"eno1.0", "iface", "VLAN id 0 of eno1.0 is out of range"}}},
		{"missing bridge port",
			"iface vmbr0 inet manual\n\tbridge-ports eno1 eno8\n",
			[]FieldError{{"vmbr0", "bridge_ports", "bridge port eno8 of vmbr0 does not exist"}}},
		{"alias of a missing interface",
			"iface eno9:1 inet static\n\taddress 10.0.0.9/24\n",
			[]FieldError{{"eno9:1", "iface", "interface eno9 of alias eno9:1 does not exist"}}},
		{"alias of a host NIC is fine",
			"iface enp5s0:1 inet static\n\taddress 10.0.0.9/24\n", nil},
		{"implicit VLAN port is fine",
			"iface vmbr0v5 inet manual\n\tbridge-ports eno1.5\n", nil},
		{"host-only port is fine",
			"iface vmbr0 inet manual\n\tbridge-ports enp5s0\n", nil},
		{"dhcp without address is fine",
			"iface eno1 inet dhcp\niface eno1 inet6 auto\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mustParse(t, []byte(tc.file)).Validate(testHost())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if len(ve.Errors) != len(tc.want) {
				t.Fatalf("got %d problems %v, want %v", len(ve.Errors), ve.Errors, tc.want)
			}
			for i, w := range tc.want {
				g := ve.Errors[i]
				if g.Iface != w.Iface || g.Field != w.Field || !strings.Contains(g.Msg, w.Msg) {
					t.Errorf("problem %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
