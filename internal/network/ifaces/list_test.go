package ifaces

import (
	"errors"
	"reflect"
	"testing"
)

func TestMergeAddsMissingPhysicalNICsAsEth(t *testing.T) {
	f := mustParse(t, inputFiles(t)["pve-default"])
	ifs := Merge(f.Interfaces(), []HostLink{
		{Name: "enp9s0", Kind: "device", Physical: true, Up: true},
		{Name: "eno1", Kind: "device", Physical: true},
		{Name: "enp2s0", Kind: "device", Physical: true},
		{Name: "vmbr0", Kind: "bridge", Up: true},
		{Name: "tap100i0", Kind: "tun", Up: true},
		{Name: "dummy0", Kind: "dummy", Up: true},
	})
	var names []string
	for _, it := range ifs {
		names = append(names, it.Name)
	}
	if want := []string{"lo", "eno1", "vmbr0", "enp2s0", "enp9s0"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("interfaces %v, want %v", names, want)
	}
	want := map[string]any{"iface": "enp9s0", "type": "eth", "method": "manual", "method6": "manual",
		"families": []string{"inet"}, "exists": 1, "active": 1}
	if got := ifs[4].APIValue(); !reflect.DeepEqual(got, want) {
		t.Errorf("host-only NIC: %v, want %v", got, want)
	}
	eno1 := ifs[1].APIValue()
	if eno1["exists"] != 1 || eno1["active"] != nil {
		t.Errorf("eno1 exists/active: %v %v", eno1["exists"], eno1["active"])
	}
	vmbr0 := ifs[2].APIValue()
	if vmbr0["exists"] != nil || vmbr0["active"] != 1 {
		t.Errorf("vmbr0 exists/active: %v %v", vmbr0["exists"], vmbr0["active"])
	}
}

func TestListFiltersByType(t *testing.T) {
	data := []byte(string(inputFiles(t)["bond-vlan-aware"]) + "\nauto vmbr9\niface vmbr9 inet manual\n\tovs_type OVSBridge\n")
	f := mustParse(t, data)
	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"", []string{"eno1", "eno2", "bond0", "vmbr0", "vmbr0.50", "vmbr0.60", "vmbr9", "enp3s0f0", "enp5s0"}},
		{"include_sdn", []string{"eno1", "eno2", "bond0", "vmbr0", "vmbr0.50", "vmbr0.60", "vmbr9", "enp3s0f0", "enp5s0"}},
		{"bridge", []string{"vmbr0"}},
		{"OVSBridge", []string{"vmbr9"}},
		{"any_bridge", []string{"vmbr0", "vmbr9"}},
		{"any_local_bridge", []string{"vmbr0", "vmbr9"}},
		{"bond", []string{"bond0"}},
		{"vlan", []string{"vmbr0.50", "vmbr0.60"}},
		{"eth", []string{"eno1", "eno2", "enp3s0f0", "enp5s0"}},
		{"alias", nil},
		{"vnet", nil},
	} {
		list, err := f.List(testHost(), tc.typ)
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		var names []string
		for _, m := range list {
			names = append(names, m["iface"].(string))
		}
		if !reflect.DeepEqual(names, tc.want) {
			t.Errorf("type %q: %v, want %v", tc.typ, names, tc.want)
		}
	}
	_, err := f.List(nil, "wifi")
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Fields()["type"] == "" {
		t.Errorf("unknown type filter: %v", err)
	}
}

func TestParamsAcceptTheAPIsValueTypes(t *testing.T) {
	for _, v := range []any{int64(9000), 9000, float64(9000), "9000"} {
		f := mustParse(t, inputFiles(t)["pve-default"])
		if err := f.Update("vmbr0", Params{"mtu": v, "autostart": "1"}, nil, testHost()); err != nil {
			t.Fatalf("mtu %T: %v", v, err)
		}
		if it := f.Interface("vmbr0"); it.MTU != "9000" || !it.Autostart {
			t.Errorf("mtu %T: got %q", v, it.MTU)
		}
	}
}
