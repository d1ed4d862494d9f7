package cloudinit

import (
	"encoding/json"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestFormatDefaultsFollowTheOSType(t *testing.T) {
	for _, tc := range []struct{ citype, ostype, want string }{
		{"", "", NoCloud},
		{"", "l26", NoCloud},
		{"", "win11", ConfigDrive2},
		{"", "w2k8", ConfigDrive2},
		{"", "wxp", ConfigDrive2},
		{"nocloud", "win10", NoCloud},
		{"opennebula", "l26", OpenNebula},
		{"configdrive2", "l26", ConfigDrive2},
	} {
		got, err := Format(tc.citype, tc.ostype)
		if err != nil || got != tc.want {
			t.Errorf("Format(%q, %q) = %q, %v; want %q", tc.citype, tc.ostype, got, err, tc.want)
		}
	}
	if _, err := Format("cloudbase", ""); err == nil || !strings.Contains(err.Error(), "allowed: configdrive2, nocloud, opennebula") {
		t.Errorf("unknown citype: %v", err)
	}
	for format, label := range map[string]string{NoCloud: "cidata", ConfigDrive2: "config-2", OpenNebula: "CONTEXT"} {
		if got := Label(format); got != label {
			t.Errorf("Label(%s) = %s, want %s", format, got, label)
		}
	}
}

func TestGenerateRejectsBadSpecs(t *testing.T) {
	nic := func(idx int, mac, ip string) []NIC { return []NIC{{Index: idx, MAC: mac, IPConfig: ip}} }
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"citype", Spec{Type: "vmware"}, `citype "vmware" is not supported`},
		{"ipconfig", Spec{NICs: nic(2, "bc:24:11:00:00:01", "ip=10.0.0.1")}, "ipconfig2: ip=10.0.0.1: expected"},
		{"no MAC", Spec{NICs: nic(1, "", "ip=dhcp")}, `net1: MAC address "" is not of the form`},
		{"index", Spec{NICs: nic(32, "bc:24:11:00:00:01", "ip=dhcp")}, "NIC index 32 is out of range; allowed: 0 to 31"},
		{"twice", Spec{NICs: append(nic(0, "bc:24:11:00:00:01", ""), nic(0, "bc:24:11:00:00:02", "")...)}, "net0 is given twice"},
		{"custom kind", Spec{Custom: map[string]string{"userdata": "x"}}, `custom cloud-init file "userdata" is not known; allowed: meta, network, user, vendor`},
		{"nameserver", Spec{Nameservers: []string{"192.0.2.53", "dns.example"}}, `nameserver "dns.example" is not an IP address`},
		{"search domain", Spec{SearchDomain: "ok.example bad'domain"}, `search domain "bad'domain" is not a DNS name`},
		{"too big", Spec{Custom: map[string]string{"user": strings.Repeat("#", 3<<20)}}, "at most 3145728 (3 MiB)"},
	} {
		if _, err := Generate(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestGeneratedFileNames(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want []string
	}{
		{Spec{}, []string{"meta-data", "network-config", "user-data"}},
		{Spec{Custom: map[string]string{"vendor": "v"}}, []string{"meta-data", "network-config", "user-data", "vendor-data"}},
		{Spec{Type: ConfigDrive2}, []string{"openstack/content/0000", "openstack/latest/meta_data.json", "openstack/latest/network_data.json", "openstack/latest/user_data"}},
		// A custom network replaces the interfaces file, and the generated
		// network_data.json must not override it.
		{Spec{Type: ConfigDrive2, Custom: map[string]string{"network": "n", "vendor": "{}"}},
			[]string{"openstack/content/0000", "openstack/latest/meta_data.json", "openstack/latest/user_data", "openstack/latest/vendor_data.json"}},
		{Spec{Type: OpenNebula, Custom: map[string]string{"user": "ignored"}}, []string{"context.sh"}},
	} {
		files, err := Generate(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := files.Names(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: files %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestCustomFilesReplaceGeneratedOnes(t *testing.T) {
	custom := map[string]string{"user": "#cloud-config\n{}\n", "network": "version: 2\n", "meta": "instance-id: mine\n", "vendor": "#cloud-config\n"}
	files, err := Generate(Spec{VMID: 5, Custom: custom})
	if err != nil {
		t.Fatal(err)
	}
	for kind, name := range map[string]string{"user": "user-data", "network": "network-config", "meta": "meta-data", "vendor": "vendor-data"} {
		if files[name] != custom[kind] {
			t.Errorf("%s = %q, want the custom %s %q", name, files[name], kind, custom[kind])
		}
	}
	// Without a custom meta the instance id covers the custom contents.
	delete(custom, "meta")
	a, _ := Generate(Spec{VMID: 5, Custom: custom})
	custom["user"] += "# changed\n"
	b, _ := Generate(Spec{VMID: 5, Custom: custom})
	if a["meta-data"] == b["meta-data"] {
		t.Errorf("instance id did not change with the custom user data: %q", a["meta-data"])
	}
}

// TestInstanceIDFollowsContent: the guest reruns its first-boot steps
// when the id changes, so it must change with every applied setting and
// only then.
func TestInstanceIDFollowsContent(t *testing.T) {
	base := Spec{VMID: 100, Name: "a", User: "u", Password: "$6$x$y", Upgrade: true,
		NICs: []NIC{{Index: 0, MAC: "bc:24:11:00:00:01", IPConfig: "ip=dhcp"}, {Index: 1, MAC: "bc:24:11:00:00:02"}}}
	for _, format := range []string{NoCloud, ConfigDrive2} {
		for _, windows := range []string{"", "win10"} {
			id := func(mod func(*Spec)) string {
				s := base
				s.Type, s.OSType = format, windows
				s.NICs = slices.Clone(base.NICs)
				mod(&s)
				out, err := Dump(s, "meta")
				if err != nil {
					t.Fatal(err)
				}
				if format == NoCloud {
					var m struct {
						ID string `yaml:"instance-id"`
					}
					if err := yaml.Unmarshal([]byte(out), &m); err != nil {
						t.Fatal(err)
					}
					return m.ID
				}
				var m struct{ UUID string }
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatal(err)
				}
				return m.UUID
			}
			orig := id(func(*Spec) {})
			if len(orig) != 40 || orig != id(func(*Spec) {}) {
				t.Fatalf("%s %s: id %q is not a stable SHA-1", format, windows, orig)
			}
			for what, mod := range map[string]func(*Spec){
				"password": func(s *Spec) { s.Password = "$6$x$z" },
				"name":     func(s *Spec) { s.Name = "b" },
				"ssh key":  func(s *Spec) { s.SSHKeys = "ssh-ed25519%20AAAA%20k" },
				"address":  func(s *Spec) { s.NICs[0].IPConfig = "ip=10.0.0.2/8" },
				"MAC":      func(s *Spec) { s.NICs[0].MAC = "bc:24:11:00:00:09" },
			} {
				if id(mod) == orig {
					t.Errorf("%s %s: id unchanged when the %s changes", format, windows, what)
				}
			}
			// net1 has no ipconfig, so nothing of it is on the drive.
			if id(func(s *Spec) { s.NICs[1].MAC = "bc:24:11:00:00:0f" }) != orig {
				t.Errorf("%s %s: id changed with a NIC that is not configured", format, windows)
			}
		}
	}
}

func TestDumpIsTheGeneratedConfig(t *testing.T) {
	spec := readSpec(t, "testdata/dns.json")
	files, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Custom = map[string]string{"user": "custom", "network": "custom", "meta": "custom"}
	for kind, name := range map[string]string{"user": "user-data", "network": "network-config", "meta": "meta-data"} {
		got, err := Dump(spec, kind)
		if err != nil || got != files[name] {
			t.Errorf("Dump %s = %q, %v; want the generated %s %q", kind, got, err, name, files[name])
		}
	}
	if _, err := Dump(spec, "vendor"); err == nil || !strings.Contains(err.Error(), "allowed: user, network, meta") {
		t.Errorf("Dump vendor: %v", err)
	}
	// The other layouts dump the ConfigDrive2 forms.
	spec.Custom, spec.Type = nil, OpenNebula
	cd := spec
	cd.Type = ConfigDrive2
	cdFiles, _ := Generate(cd)
	for kind, name := range map[string]string{"user": "openstack/latest/user_data", "network": "openstack/content/0000", "meta": "openstack/latest/meta_data.json"} {
		if got, _ := Dump(spec, kind); got != cdFiles[name] {
			t.Errorf("opennebula Dump %s = %q, want %q", kind, got, cdFiles[name])
		}
	}
}

// TestUserDataReadsBack decodes the user data of awkward values with a
// YAML parser: the guest must read exactly what was configured.
func TestUserDataReadsBack(t *testing.T) {
	keys := []string{"ssh-ed25519 AAAA key: one", "ssh-rsa BBBB #two", "'quoted' key"}
	spec := Spec{VMID: 7, Name: "007", User: "no", Password: "p@ss: #word 'q'", SearchDomain: "true.example",
		SSHKeys: strings.ReplaceAll(strings.Join(keys, "\r\n")+"\n", " ", "%20"), Upgrade: true}
	files, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Hostname, FQDN, User, Password string
		Keys                           []string `yaml:"ssh_authorized_keys"`
		Upgrade                        bool     `yaml:"package_upgrade"`
		Users                          []string
	}
	if err := yaml.Unmarshal([]byte(files["user-data"]), &got); err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "007" || got.FQDN != "007.true.example" || got.User != "no" || got.Password != spec.Password ||
		!slices.Equal(got.Keys, keys) || !got.Upgrade || !slices.Equal(got.Users, []string{"default"}) {
		t.Fatalf("read back %+v from\n%s", got, files["user-data"])
	}
}

func TestWindowsKeepsSecretsOutOfUserData(t *testing.T) {
	spec := Spec{VMID: 8, Name: "w", OSType: "win10", User: "Admin", Password: "Pl@in", SSHKeys: "ssh-rsa%20AAAA%20a%0Assh-rsa%20BBBB%20b", Upgrade: true}
	files, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if ud := files["openstack/latest/user_data"]; strings.Contains(ud, "Pl@in") || strings.Contains(ud, "package_upgrade") {
		t.Errorf("Windows user data %q carries settings cloudbase-init takes from the meta data", ud)
	}
	var meta struct {
		AdminPass     string            `json:"admin_pass"`
		AdminUsername string            `json:"admin_username"`
		Hostname      string            `json:"hostname"`
		PublicKeys    map[string]string `json:"public_keys"`
	}
	if err := json.Unmarshal([]byte(files["openstack/latest/meta_data.json"]), &meta); err != nil {
		t.Fatal(err)
	}
	wantKeys := map[string]string{"SSH0": "ssh-rsa AAAA a", "SSH1": "ssh-rsa BBBB b"}
	if meta.AdminPass != "Pl@in" || meta.AdminUsername != "Admin" || meta.Hostname != "w" || !maps.Equal(meta.PublicKeys, wantKeys) {
		t.Errorf("meta data %+v", meta)
	}
	// A Linux ConfigDrive2 keeps them in the user data only.
	spec.OSType = "l26"
	spec.Type = ConfigDrive2
	files, _ = Generate(spec)
	if m := files["openstack/latest/meta_data.json"]; strings.Contains(m, "Pl@in") || strings.Contains(m, "public_keys") {
		t.Errorf("Linux meta data %q carries the password or keys", m)
	}
}

// TestOpenNebulaContextSources runs context.sh through bash, as the guest
// does, and checks the variables it defines.
func TestOpenNebulaContextSources(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash is not installed: %v", err)
	}
	spec := Spec{VMID: 9, Type: OpenNebula, Name: "n", Password: "$6$s$h",
		SSHKeys: "ssh-rsa%20AAAA%20%24(touch%20%2Ftmp%2Fx)%0Assh-ed25519%20BBBB%20it's",
		NICs:    []NIC{{Index: 2, MAC: "BC:24:11:00:00:02", IPConfig: "ip=192.0.2.9/25,gw=192.0.2.1"}}}
	files, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	script := files["context.sh"] + `
for v in USERNAME CRYPTED_PASSWORD_BASE64 SSH_PUBLIC_KEY SET_HOSTNAME ETH2_MAC ETH2_IP ETH2_MASK ETH2_GATEWAY NETWORK; do
	printf '%s=%s\0' "$v" "${!v}"
done`
	out, err := exec.Command(bash, "-c", script).Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, files["context.sh"])
	}
	got := map[string]string{}
	for kv := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"USERNAME": "root", "CRYPTED_PASSWORD_BASE64": "JDYkcyRo", "SET_HOSTNAME": "n",
		"SSH_PUBLIC_KEY": "ssh-rsa AAAA $(touch /tmp/x)\nssh-ed25519 BBBB it's",
		"ETH2_MAC":       "bc:24:11:00:00:02", "ETH2_IP": "192.0.2.9", "ETH2_MASK": "255.255.255.128", "ETH2_GATEWAY": "192.0.2.1", "NETWORK": "YES",
	}
	if !maps.Equal(got, want) {
		t.Errorf("context.sh defines\n%q\nwant\n%q", got, want)
	}
}

func TestFromConfig(t *testing.T) {
	conf := map[string]string{
		"name": "vm", "citype": "nocloud", "ciuser": "u", "cipassword": "$6$a$b", "sshkeys": "ssh-rsa%20A",
		"nameserver": " 192.0.2.53  192.0.2.54 ", "searchdomain": "a.example b.example", "ostype": "l26",
		"net10":     "virtio=BC:24:11:00:00:0A,bridge=vmbr0",
		"net2":      "model=e1000,macaddr=bc:24:11:00:00:02",
		"ipconfig2": "ip=dhcp", "ipconfig10": "ip6=auto", "ipconfig5": "ip=dhcp", // ipconfig5 has no NIC
		"net": "ignored", "net07": "ignored", "netx": "ignored", "memory": "2048",
	}
	custom := map[string]string{"user": "#cloud-config\n"}
	s, err := FromConfig(100, conf, custom)
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{VMID: 100, Name: "vm", Type: "nocloud", User: "u", Password: "$6$a$b", SSHKeys: "ssh-rsa%20A", Upgrade: true,
		Nameservers: []string{"192.0.2.53", "192.0.2.54"}, SearchDomain: "a.example b.example", OSType: "l26", Custom: custom,
		NICs: []NIC{{Index: 2, MAC: "bc:24:11:00:00:02", IPConfig: "ip=dhcp"}, {Index: 10, MAC: "bc:24:11:00:00:0a", IPConfig: "ip6=auto"}}}
	gotJSON, _ := json.Marshal(s)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("FromConfig =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	for v, up := range map[string]bool{"0": false, "1": true, "no": false, "ON": true} {
		s, err := FromConfig(1, map[string]string{"ciupgrade": v}, nil)
		if err != nil || s.Upgrade != up {
			t.Errorf("ciupgrade %q: %v, %v", v, s.Upgrade, err)
		}
	}
	if _, err := FromConfig(1, map[string]string{"ciupgrade": "maybe"}, nil); err == nil || !strings.Contains(err.Error(), "ciupgrade") {
		t.Errorf("bad ciupgrade: %v", err)
	}
	// virtio=zz is no MAC and no known option: skipped, leaving no MAC.
	if s, err := FromConfig(1, map[string]string{"net0": "virtio=zz"}, nil); err != nil || len(s.NICs) != 1 || s.NICs[0].MAC != "" {
		t.Errorf("net0 without a MAC: %+v, %v", s.NICs, err)
	}
	if _, err := FromConfig(1, map[string]string{"net0": "virtio,macaddr=zz"}, nil); err == nil || !strings.Contains(err.Error(), "net0") {
		t.Errorf("bad macaddr: %v, want an error naming net0", err)
	}
}
