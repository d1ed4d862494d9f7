package storage

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/hearth-virt/hearth/api"
)

func TestFileNameCleansUploadNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Content
		want string
	}{
		{"debian-12.7.0-amd64-netinst.iso", ISO, "debian-12.7.0-amd64-netinst.iso"},
		{"debian 12.iso", ISO, "debian_12.iso"},
		{"Win11 (x64).ISO", ISO, "Win11__x64_.ISO"},
		{"ipxe.img", ISO, "ipxe.img"},
		{"grml+tools.iso", ISO, "grml+tools.iso"},
		{"debian-12-standard_12.7-1_amd64.tar.zst", VZTmpl, "debian-12-standard_12.7-1_amd64.tar.zst"},
		{"my template.tar.gz", VZTmpl, "my_template.tar.gz"},
		{"appliance.ova", Import, "appliance.ova"},
		{"cloud image.qcow2", Import, "cloud_image.qcow2"},
		{"disk.vmdk", Import, "disk.vmdk"},
	} {
		got, err := FileName(tc.name, tc.c)
		if err != nil || got != tc.want {
			t.Errorf("FileName(%q, %s) = %q, %v; want %q", tc.name, tc.c, got, err, tc.want)
		}
	}
}

func TestFileNameRefusesPathsAndWrongExtensions(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Content
	}{
		{"", ISO},
		{".", ISO},
		{"..", ISO},
		{"../x.iso", ISO},
		{"a/b.iso", ISO},
		{"/etc/x.iso", ISO},
		{`a\b.iso`, ISO},
		{"x.iso\x00", ISO},
		{".hidden.iso", ISO},
		{"debian.txt", ISO},
		{"debian.iso.exe", ISO},
		{"debian", ISO},
		{"debian.iso", VZTmpl},
		{"template.tar", VZTmpl},
		{"template.zip", VZTmpl},
		{"debian.iso", Import},
		{"disk.img", Import},
		{"vm-100-disk-0.raw", Images},
	} {
		if got, err := FileName(tc.name, tc.c); err == nil {
			t.Errorf("FileName(%q, %s) = %q; want an error", tc.name, tc.c, got)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1", 1024}, // KiB without a suffix, as pvesm alloc
		{"4096", 4 << 20},
		{"1M", 1 << 20},
		{"512M", 512 << 20},
		{"1G", 1 << 30},
		{"32G", 32 << 30},
		{"1024G", 1 << 40},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSizeRefusesWhatIsNotASize(t *testing.T) {
	for _, in := range []string{
		"", "0", "0G", "-1", "-1G", "+5", "+1G", " 1", "1 ", "1.5G", "1g", "1m", "1K", "1T", "1GB", "G", "M",
		"abc", "0x10", "1_000",
		"9223372036854775807",   // KiB: more bytes than an int64 holds
		"9223372036854775808",   // not even an int64
		"8796093022208M",        // 2^63 bytes
		"8589934592G",           // 2^63 bytes
		"99999999999999999999G", // not an int64
	} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d; want an error", in, got)
		}
	}
}

func TestVolumeName(t *testing.T) {
	for _, tc := range []struct {
		storage, volume, want string
	}{
		{"local", "local:iso/debian.iso", "iso/debian.iso"},
		{"local", "iso/debian.iso", "iso/debian.iso"},
		{"local-lvm", "vm-100-disk-0", "vm-100-disk-0"},
		{"", "local-lvm:vm-100-disk-0", "vm-100-disk-0"},
		{"local", "local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2", "100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2"},
	} {
		got, err := volumeName(tc.storage, tc.volume)
		if err != nil || got != tc.want {
			t.Errorf("volumeName(%q, %q) = %q, %v; want %q", tc.storage, tc.volume, got, err, tc.want)
		}
	}
}

func TestVolumeNameRefusesVolumesOfOtherStorages(t *testing.T) {
	for _, tc := range []struct{ storage, volume string }{
		{"local", "nas:iso/debian.iso"},
		{"local", "local-lvm:vm-100-disk-0"},
		{"local", "1bad:iso/x.iso"}, // a colon, but not a volume id
		{"local", ":iso/x.iso"},
		{"", "iso/debian.iso"}, // a name alone needs a storage
	} {
		_, err := volumeName(tc.storage, tc.volume)
		var e *api.Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Errors["volume"] == "" {
			t.Errorf("volumeName(%q, %q): %v; want a parameter error for volume", tc.storage, tc.volume, err)
		}
	}
}

// privs is a fake permission checker: the privileges held on each path.
type privs map[string][]string

func (p privs) Has(path string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(p[path], w) {
			return false
		}
	}
	return true
}

func (p privs) HasAny(path string, want ...string) bool {
	for _, w := range want {
		if slices.Contains(p[path], w) {
			return true
		}
	}
	return false
}

func TestCheckVolumeAccess(t *testing.T) {
	disk := Vol{Content: Images, Name: "vm-100-disk-0", VMID: 100, Format: "raw"}
	ctVol := Vol{Content: Rootdir, Name: "subvol-100-disk-0", VMID: 100, Format: "subvol"}
	dump := Vol{Content: Backup, Name: "vzdump-qemu-100-2024_01_31-02_00_03.vma.zst", VMID: 100, Format: "vma.zst"}
	foreignDump := Vol{Content: Backup, Name: "before-upgrade.vma.zst", Format: "vma.zst"}
	iso := Vol{Content: ISO, Name: "debian.iso", Format: "iso"}
	tmpl := Vol{Content: VZTmpl, Name: "debian-12.tar.zst", Format: "tar.zst"}
	imp := Vol{Content: Import, Name: "appliance.ova", Format: "ova"}
	snippet := Vol{Content: Snippets, Name: "userdata.yaml", Format: "snippet"}
	all := []Vol{disk, ctVol, dump, foreignDump, iso, tmpl, imp, snippet}

	const sp = "/storage/local"
	for _, tc := range []struct {
		about string
		perm  privs
		vol   []Vol
		write bool
		ok    bool
	}{
		{"Datastore.Allocate reads everything", privs{sp: {"Datastore.Allocate"}}, all, false, true},
		{"Datastore.Allocate changes everything", privs{sp: {"Datastore.Allocate"}}, all, true, true},
		{"no privileges", privs{}, all, false, false},

		{"disk with space and the guest's disk privilege", privs{sp: {"Datastore.AllocateSpace"}, "/vms/100": {"VM.Config.Disk"}}, []Vol{disk, ctVol}, true, true},
		{"disk without the guest's disk privilege", privs{sp: {"Datastore.AllocateSpace"}, "/vms/100": {"VM.Audit", "VM.Backup"}}, []Vol{disk, ctVol}, false, false},
		{"disk with another guest's disk privilege", privs{sp: {"Datastore.AllocateSpace"}, "/vms/101": {"VM.Config.Disk"}}, []Vol{disk, ctVol}, false, false},
		{"disk without space on the storage", privs{sp: {"Datastore.Audit"}, "/vms/100": {"VM.Config.Disk"}}, []Vol{disk, ctVol}, false, false},

		{"backup with space and VM.Backup", privs{sp: {"Datastore.AllocateSpace"}, "/vms/100": {"VM.Backup"}}, []Vol{dump}, true, true},
		{"backup without VM.Backup", privs{sp: {"Datastore.AllocateSpace"}, "/vms/100": {"VM.Config.Disk"}}, []Vol{dump}, false, false},
		{"backup without space", privs{sp: {"Datastore.Audit"}, "/vms/100": {"VM.Backup"}}, []Vol{dump}, false, false},
		{"renamed backup has no guest to ask", privs{sp: {"Datastore.AllocateSpace"}, "/vms/100": {"VM.Backup"}, "/vms/0": {"VM.Backup"}}, []Vol{foreignDump}, false, false},

		{"templates readable with Audit", privs{sp: {"Datastore.Audit"}}, []Vol{iso, tmpl, imp}, false, true},
		{"templates readable with AllocateSpace", privs{sp: {"Datastore.AllocateSpace"}}, []Vol{iso, tmpl, imp}, false, true},
		{"templates of another storage", privs{"/storage/nas": {"Datastore.Audit"}}, []Vol{iso, tmpl, imp}, false, false},
		{"templates not writable with Audit", privs{sp: {"Datastore.Audit", "Datastore.AllocateSpace"}}, []Vol{iso, tmpl, imp}, true, false},
		{"templates writable with AllocateTemplate", privs{sp: {"Datastore.AllocateTemplate"}}, []Vol{iso, tmpl, imp}, true, true},
		{"guest privileges do not open templates", privs{"/vms/100": {"VM.Config.Disk", "VM.Backup"}}, []Vol{iso, tmpl, imp}, false, false},

		// Snippets (hook scripts, cloud-init user data) are for storage
		// administrators only, as in Proxmox VE.
		{"snippets not readable with Audit", privs{sp: {"Datastore.Audit", "Datastore.AllocateSpace", "Datastore.AllocateTemplate"}}, []Vol{snippet}, false, false},
		{"snippets not writable with AllocateTemplate", privs{sp: {"Datastore.AllocateTemplate"}}, []Vol{snippet}, true, false},
	} {
		for _, v := range tc.vol {
			err := checkVolumeAccess(&api.Call{User: "alice@pve", Perm: tc.perm}, "local", v, tc.write)
			if (err == nil) != tc.ok {
				t.Errorf("%s: %s %s (write %v): %v, want ok=%v", tc.about, v.Content, v.Name, tc.write, err, tc.ok)
			}
			var d *api.Denied
			if err != nil && !errors.As(err, &d) {
				t.Errorf("%s: %s: %v is not a permission error", tc.about, v.Name, err)
			}
		}
	}
}

func TestCheckVolumeAccessNamesWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		vol        Vol
		write      bool
		path, priv string
	}{
		{Vol{Content: Images, VMID: 100}, false, "/vms/100", "VM.Config.Disk"},
		{Vol{Content: Backup, VMID: 100}, false, "/vms/100", "VM.Backup"},
		{Vol{Content: ISO}, false, "/storage/local", "Datastore.Audit"},
		{Vol{Content: ISO}, true, "/storage/local", "Datastore.AllocateTemplate"},
		{Vol{Content: Snippets}, false, "/storage/local", "Datastore.Allocate"},
	} {
		err := checkVolumeAccess(&api.Call{Perm: privs{}}, "local", tc.vol, tc.write)
		var d *api.Denied
		if !errors.As(err, &d) || d.Path != tc.path || d.Priv != tc.priv {
			t.Errorf("%s (write %v): %v; want denied (%s, %s)", tc.vol.Content, tc.write, err, tc.path, tc.priv)
		}
	}
	if err := checkVolumeAccess(&api.Call{}, "local", Vol{Content: ISO}, false); err == nil {
		t.Error("a call without permissions read an ISO")
	}
}
