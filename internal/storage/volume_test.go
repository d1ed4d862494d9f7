package storage

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseVolumeIDSplitsAtTheFirstColon(t *testing.T) {
	for _, tc := range []struct {
		volid, storage, volname string
	}{
		{"local:iso/debian-12.7.0-amd64-netinst.iso", "local", "iso/debian-12.7.0-amd64-netinst.iso"},
		{"local-lvm:vm-100-disk-0", "local-lvm", "vm-100-disk-0"},
		{"nfs.backup_1:backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst", "nfs.backup_1", "backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst"},
		{"Ceph01:vm-100-disk-0", "Ceph01", "vm-100-disk-0"},
		// Only the first colon separates; the rest belongs to the name.
		{"local:iso/a:b.iso", "local", "iso/a:b.iso"},
	} {
		s, v, err := ParseVolumeID(tc.volid)
		if err != nil || s != tc.storage || v != tc.volname {
			t.Errorf("ParseVolumeID(%q) = %q, %q, %v; want %q, %q", tc.volid, s, v, err, tc.storage, tc.volname)
		}
	}
}

func TestParseVolumeIDRefusesMalformedIDs(t *testing.T) {
	for _, volid := range []string{
		"",
		"local",            // no colon
		"local:",           // no volume name
		":iso/x.iso",       // no storage
		"1local:iso/x.iso", // storage ids start with a letter
		"a:iso/x.iso",      // at least two characters
		"local-:iso/x.iso", // must end in a letter or digit
		"lo cal:iso/x.iso",
		"-local:iso/x.iso",
		"/etc:passwd",
	} {
		if s, v, err := ParseVolumeID(volid); err == nil {
			t.Errorf("ParseVolumeID(%q) = %q, %q; want an error", volid, s, v)
		}
	}
}

func TestValidStorageIDFollowsPVEStorageIDFormat(t *testing.T) {
	for id, want := range map[string]bool{
		"local":     true,
		"local-lvm": true,
		"nfs.1":     true,
		"backup_2":  true,
		"Local":     true, // case-insensitive, as pve-storage-id
		"ab":        true,
		"a":         false,
		"":          false,
		"1local":    false,
		"_local":    false,
		"local-":    false,
		"local.":    false,
		"lo cal":    false,
		"lo/cal":    false,
		"lo:cal":    false,
	} {
		if got := ValidStorageID(id); got != want {
			t.Errorf("ValidStorageID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestCheckImageName(t *testing.T) {
	for _, tc := range []struct {
		name string
		vmid int
		ext  string
		ok   bool
	}{
		{"vm-100-disk-0.qcow2", 100, "qcow2", true},
		{"vm-100-disk-12.raw", 100, "raw", true},
		{"vm-100-disk-0.vmdk", 100, "vmdk", true},
		{"base-100-disk-0.qcow2", 100, "qcow2", true},
		{"subvol-100-disk-0.subvol", 100, "subvol", true},
		{"vm-100-cloudinit.qcow2", 100, "qcow2", true},
		{"vm-100-disk-0", 100, "", true}, // block storages: no extension
		{"vm-999999999-disk-0", 999999999, "", true},

		{"vm-101-disk-0.qcow2", 100, "qcow2", false}, // another guest's volume
		{"base-101-disk-0.qcow2", 100, "qcow2", false},
		{"vm-1000-disk-0", 100, "", false}, // 100 is a prefix of 1000, not its owner
		{"vm-10-disk-0", 100, "", false},
		{"VM-100-disk-0", 100, "", false},
		{"disk-0.raw", 100, "raw", false},
		{"my-disk.raw", 100, "raw", false},
		{"vm-100-.qcow2", 100, "qcow2", false}, // nothing after the owner
		{"vm-100-disk-0.raw", 100, "qcow2", false},
		{"vm-100-disk-0", 100, "raw", false},
		{"vm-100-disk-0.raw.txt", 100, "raw", false},
		{"vm-100-../../etc/passwd", 100, "", false},
		{"vm-100-a..b", 100, "", false},
		{"vm-100-a/b.raw", 100, "raw", false},
		{"vm-100-my disk.raw", 100, "raw", false},
		{"vm-100-disk\t0", 100, "", false},
		{"", 100, "", false},
	} {
		err := CheckImageName(tc.name, tc.vmid, tc.ext)
		if (err == nil) != tc.ok {
			t.Errorf("CheckImageName(%q, %d, %q) = %v, want ok=%v", tc.name, tc.vmid, tc.ext, err, tc.ok)
		}
	}
}

func TestCheckImageNameNamesTheOwnerOfAForeignVolume(t *testing.T) {
	err := CheckImageName("vm-101-disk-0.raw", 100, "raw")
	if err == nil || !strings.Contains(err.Error(), "101") {
		t.Fatalf("error %v should name guest 101", err)
	}
}

// fileVolnames are volume names of a file storage as Proxmox VE writes
// them, with what they say.
var fileVolnames = []struct {
	volname string
	want    Vol
}{
	{"iso/debian-12.7.0-amd64-netinst.iso", Vol{Content: ISO, Name: "debian-12.7.0-amd64-netinst.iso", Format: "iso"}},
	{"iso/virtio-win-0.1.262.ISO", Vol{Content: ISO, Name: "virtio-win-0.1.262.ISO", Format: "iso"}},
	{"iso/ipxe.img", Vol{Content: ISO, Name: "ipxe.img", Format: "img"}},
	{"vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", Vol{Content: VZTmpl, Name: "debian-12-standard_12.7-1_amd64.tar.zst", Format: "tar.zst"}},
	{"vztmpl/alpine-3.20-default_20240908_amd64.tar.xz", Vol{Content: VZTmpl, Name: "alpine-3.20-default_20240908_amd64.tar.xz", Format: "tar.xz"}},
	{"vztmpl/centos-7-default_20190926_amd64.tar.gz", Vol{Content: VZTmpl, Name: "centos-7-default_20190926_amd64.tar.gz", Format: "tar.gz"}},
	{"vztmpl/gentoo-current-openrc_20231009_amd64.tar.bz2", Vol{Content: VZTmpl, Name: "gentoo-current-openrc_20231009_amd64.tar.bz2", Format: "tar.bz2"}},

	{"backup/vzdump-qemu-100-2024_01_31-02_00_03.vma", Vol{Content: Backup, Name: "vzdump-qemu-100-2024_01_31-02_00_03.vma", VMID: 100, Format: "vma"}},
	{"backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst", Vol{Content: Backup, Name: "vzdump-qemu-100-2024_01_31-02_00_03.vma.zst", VMID: 100, Format: "vma.zst"}},
	{"backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.gz", Vol{Content: Backup, Name: "vzdump-qemu-100-2024_01_31-02_00_03.vma.gz", VMID: 100, Format: "vma.gz"}},
	{"backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.lzo", Vol{Content: Backup, Name: "vzdump-qemu-100-2024_01_31-02_00_03.vma.lzo", VMID: 100, Format: "vma.lzo"}},
	{"backup/vzdump-lxc-200-2023_12_24-18_30_00.tar", Vol{Content: Backup, Name: "vzdump-lxc-200-2023_12_24-18_30_00.tar", VMID: 200, Format: "tar"}},
	{"backup/vzdump-lxc-200-2023_12_24-18_30_00.tar.zst", Vol{Content: Backup, Name: "vzdump-lxc-200-2023_12_24-18_30_00.tar.zst", VMID: 200, Format: "tar.zst"}},
	{"backup/vzdump-lxc-200-2023_12_24-18_30_00.tar.gz", Vol{Content: Backup, Name: "vzdump-lxc-200-2023_12_24-18_30_00.tar.gz", VMID: 200, Format: "tar.gz"}},
	{"backup/vzdump-lxc-200-2023_12_24-18_30_00.tar.lzo", Vol{Content: Backup, Name: "vzdump-lxc-200-2023_12_24-18_30_00.tar.lzo", VMID: 200, Format: "tar.lzo"}},
	{"backup/vzdump-openvz-300-2012_05_01-01_00_00.tgz", Vol{Content: Backup, Name: "vzdump-openvz-300-2012_05_01-01_00_00.tgz", VMID: 300, Format: "tgz"}},
	{"backup/vzdump-openvz-300-2012_05_01-01_00_00.tar", Vol{Content: Backup, Name: "vzdump-openvz-300-2012_05_01-01_00_00.tar", VMID: 300, Format: "tar"}},
	// A renamed archive is still a backup, but one without an owner.
	{"backup/before-upgrade.vma.zst", Vol{Content: Backup, Name: "before-upgrade.vma.zst", Format: "vma.zst"}},

	{"snippets/userdata.yaml", Vol{Content: Snippets, Name: "userdata.yaml", Format: "snippet"}},
	{"snippets/hookscript.pl", Vol{Content: Snippets, Name: "hookscript.pl", Format: "snippet"}},

	{"import/debian-12-genericcloud-amd64.qcow2", Vol{Content: Import, Name: "debian-12-genericcloud-amd64.qcow2", Format: "qcow2"}},
	{"import/appliance.ova", Vol{Content: Import, Name: "appliance.ova", Format: "ova"}},
	{"import/appliance.ovf", Vol{Content: Import, Name: "appliance.ovf", Format: "ovf"}},
	{"import/disk.vmdk", Vol{Content: Import, Name: "disk.vmdk", Format: "vmdk"}},
	{"import/disk.raw", Vol{Content: Import, Name: "disk.raw", Format: "raw"}},

	{"100/vm-100-disk-0.qcow2", Vol{Content: Images, Name: "vm-100-disk-0.qcow2", VMID: 100, Format: "qcow2"}},
	{"100/vm-100-disk-1.raw", Vol{Content: Images, Name: "vm-100-disk-1.raw", VMID: 100, Format: "raw"}},
	{"100/vm-100-disk-2.vmdk", Vol{Content: Images, Name: "vm-100-disk-2.vmdk", VMID: 100, Format: "vmdk"}},
	{"100/vm-100-cloudinit.qcow2", Vol{Content: Images, Name: "vm-100-cloudinit.qcow2", VMID: 100, Format: "qcow2"}},
	{"100/base-100-disk-0.qcow2", Vol{Content: Images, Name: "base-100-disk-0.qcow2", VMID: 100, Format: "qcow2", IsBase: true}},
	{"200/subvol-200-disk-0.subvol", Vol{Content: Rootdir, Name: "subvol-200-disk-0.subvol", VMID: 200, Format: "subvol"}},
	{"999999999/vm-999999999-disk-0.raw", Vol{Content: Images, Name: "vm-999999999-disk-0.raw", VMID: 999999999, Format: "raw"}},
	{"100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2", Vol{Content: Images, Name: "vm-101-disk-0.qcow2", VMID: 101, Format: "qcow2",
		Base: "base-100-disk-0.qcow2", BaseVMID: 100}},
}

func TestParseFileVolnameReadsEveryDirectoryForm(t *testing.T) {
	for _, tc := range fileVolnames {
		got, err := ParseFileVolname(tc.volname)
		if err != nil {
			t.Errorf("ParseFileVolname(%q): %v", tc.volname, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseFileVolname(%q) = %+v\nwant %+v", tc.volname, got, tc.want)
		}
	}
}

func TestFileVolnameRendersWhatParseFileVolnameRead(t *testing.T) {
	for _, tc := range fileVolnames {
		if got := FileVolname(tc.want); got != tc.volname {
			t.Errorf("FileVolname(%+v) = %q, want %q", tc.want, got, tc.volname)
		}
	}
}

func TestParseFileVolnameRefusesNamesOutsideTheirDirectory(t *testing.T) {
	for _, volname := range []string{
		"",
		"/etc/passwd",
		"/100/vm-100-disk-0.raw",
		"iso/../../etc/shadow.iso",
		"iso/../100/vm-100-disk-0.raw",
		"100/../101/vm-101-disk-0.raw",
		"./iso/x.iso",
		"iso/./x.iso",
		"iso//x.iso",
		"iso/x.iso/",
		"iso/",
		"iso",
		"iso/sub/x.iso",
		"iso/x.txt",
		"iso/my image.iso",
		"iso/x.iso\x00.txt",
		"vztmpl/x.tar",
		"vztmpl/x.zip",
		"vztmpl/sub/x.tar.gz",
		"backup/sub/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst",
		"snippets/",
		"snippets/sub/x.yaml",
		"import/x.iso",
		"import/x.tar.gz",
		"import/sub/x.qcow2",
		"rootdir/100",
		// Wrong owner directory, malformed guest ids, bad image names.
		"101/vm-100-disk-0.raw",
		"100/vm-101-disk-0.raw",
		"0100/vm-100-disk-0.raw",
		"+100/vm-100-disk-0.raw",
		"99/vm-99-disk-0.raw",
		"100/vm-100-disk-0",
		"100/vm-100-disk-0.txt",
		"100/disk.raw",
		"100/vm-100-my disk.raw",
		"100/vm-100-disk-0.raw/extra",
		"100",
		// Linked clones: the first pair must be a base, the second not.
		"100/vm-100-disk-0.qcow2/101/vm-101-disk-0.qcow2",
		"100/base-100-disk-0.qcow2/101/base-101-disk-0.qcow2",
		"100/base-101-disk-0.qcow2/101/vm-101-disk-0.qcow2",
		"100/base-100-disk-0.qcow2/101/vm-102-disk-0.qcow2",
		"100/base-100-disk-0.qcow2/../vm-101-disk-0.qcow2",
	} {
		if v, err := ParseFileVolname(volname); err == nil {
			t.Errorf("ParseFileVolname(%q) = %+v; want an error", volname, v)
		}
	}
}

var blockVolnames = []struct {
	volname string
	want    Vol
}{
	{"vm-100-disk-0", Vol{Content: Images, Name: "vm-100-disk-0", VMID: 100, Format: "raw"}},
	{"vm-100-disk-12", Vol{Content: Images, Name: "vm-100-disk-12", VMID: 100, Format: "raw"}},
	{"vm-100-cloudinit", Vol{Content: Images, Name: "vm-100-cloudinit", VMID: 100, Format: "raw"}},
	{"vm-100-state-before_upgrade", Vol{Content: Images, Name: "vm-100-state-before_upgrade", VMID: 100, Format: "raw"}},
	{"base-100-disk-0", Vol{Content: Images, Name: "base-100-disk-0", VMID: 100, Format: "raw", IsBase: true}},
	{"subvol-200-disk-0", Vol{Content: Rootdir, Name: "subvol-200-disk-0", VMID: 200, Format: "subvol"}},
	{"basevol-200-disk-0", Vol{Content: Rootdir, Name: "basevol-200-disk-0", VMID: 200, Format: "subvol", IsBase: true}},
	{"base-100-disk-0/vm-101-disk-0", Vol{Content: Images, Name: "vm-101-disk-0", VMID: 101, Format: "raw",
		Base: "base-100-disk-0", BaseVMID: 100}},
	{"basevol-200-disk-0/subvol-201-disk-0", Vol{Content: Rootdir, Name: "subvol-201-disk-0", VMID: 201, Format: "subvol",
		Base: "basevol-200-disk-0", BaseVMID: 200}},
}

func TestParseBlockVolname(t *testing.T) {
	for _, tc := range blockVolnames {
		got, err := ParseBlockVolname(tc.volname)
		if err != nil {
			t.Errorf("ParseBlockVolname(%q): %v", tc.volname, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseBlockVolname(%q) = %+v\nwant %+v", tc.volname, got, tc.want)
		}
		if back := BlockVolname(got); back != tc.volname {
			t.Errorf("BlockVolname(%+v) = %q, want %q", got, back, tc.volname)
		}
	}
}

func TestParseBlockVolnameRefusesOtherNames(t *testing.T) {
	for _, volname := range []string{
		"",
		"disk0",
		"vm-99-disk-0",
		"vm-1000000000-disk-0",
		"vm-100-",
		"vm-100-disk 0",
		"vm-100-disk-0@snap1", // a snapshot is not a volume
		"vm-100-..",
		"../vm-100-disk-0",
		"/vm-100-disk-0",
		"vm-100-disk-0/",
		"pve/vm-100-disk-0",
		"vm-100-disk-0/vm-101-disk-0",
		"base-100-disk-0/base-101-disk-0",
		"base-100-disk-0/vm-101-disk-0/vm-102-disk-0",
		"iso/debian.iso",
	} {
		if v, err := ParseBlockVolname(volname); err == nil {
			t.Errorf("ParseBlockVolname(%q) = %+v; want an error", volname, v)
		}
	}
}

func TestNextDiskNamePicksTheFirstFreeNumber(t *testing.T) {
	for _, tc := range []struct {
		about  string
		taken  []string
		vmid   int
		prefix string
		ext    string
		want   string
	}{
		{"empty storage", nil, 100, "vm", "", "vm-100-disk-0"},
		{"after the used ones", []string{"vm-100-disk-0", "vm-100-disk-1"}, 100, "vm", "", "vm-100-disk-2"},
		{"fills a gap", []string{"vm-100-disk-0", "vm-100-disk-2"}, 100, "vm", "", "vm-100-disk-1"},
		{"a base disk holds its number", []string{"base-100-disk-0"}, 100, "vm", "", "vm-100-disk-1"},
		{"a subvolume holds its number", []string{"subvol-100-disk-0"}, 100, "subvol", "", "subvol-100-disk-1"},
		{"other guests do not count", []string{"vm-101-disk-0", "vm-1000-disk-0", "vm-10-disk-0"}, 100, "vm", "", "vm-100-disk-0"},
		{"names that are not disks do not count", []string{"vm-100-cloudinit", "vm-100-state-snap1"}, 100, "vm", "", "vm-100-disk-0"},
		{"extensions are ignored when comparing", []string{"vm-100-disk-0.qcow2", "vm-100-disk-1.raw"}, 100, "vm", ".qcow2", "vm-100-disk-2.qcow2"},
		{"subvolume directories", []string{"subvol-100-disk-0.subvol"}, 100, "subvol", ".subvol", "subvol-100-disk-1.subvol"},
	} {
		got, err := NextDiskName(tc.taken, tc.vmid, tc.prefix, tc.ext)
		if err != nil || got != tc.want {
			t.Errorf("%s: NextDiskName(%q, %d, %q, %q) = %q, %v; want %q", tc.about, tc.taken, tc.vmid, tc.prefix, tc.ext, got, err, tc.want)
		}
	}
}

func TestNextDiskNameFailsWhenEveryNumberIsTaken(t *testing.T) {
	var taken []string
	for i := 0; i < 1024; i++ {
		taken = append(taken, fmt.Sprintf("vm-100-disk-%d", i))
	}
	if name, err := NextDiskName(taken, 100, "vm", ""); err == nil {
		t.Fatalf("got %q with every number taken", name)
	}
	if name, err := NextDiskName(taken[:999], 100, "vm", ""); err != nil || name != "vm-100-disk-999" {
		t.Fatalf("got %q, %v; want vm-100-disk-999", name, err)
	}
}

func TestSortVolumesOrdersByVolumeName(t *testing.T) {
	vols := []Volume{
		{Volname: "iso/b.iso"},
		{Volname: "100/vm-100-disk-1.raw"},
		{Volname: "backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst"},
		{Volname: "100/vm-100-disk-0.raw"},
		{Volname: "iso/a.iso"},
	}
	SortVolumes(vols)
	var got []string
	for _, v := range vols {
		got = append(got, v.Volname)
	}
	want := []string{
		"100/vm-100-disk-0.raw",
		"100/vm-100-disk-1.raw",
		"backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst",
		"iso/a.iso",
		"iso/b.iso",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sorted %q, want %q", got, want)
	}
}

// checkParsedVolname holds for every name a parser accepted: it stays
// inside its storage and renders back to itself.
func checkParsedVolname(t *testing.T, volname string, v Vol, render func(Vol) string, reparse func(string) (Vol, error)) {
	t.Helper()
	if strings.HasPrefix(volname, "/") {
		t.Fatalf("%q accepted as a volume name: absolute", volname)
	}
	for _, seg := range strings.Split(volname, "/") {
		if seg == ".." || seg == "." || seg == "" {
			t.Fatalf("%q accepted with segment %q", volname, seg)
		}
	}
	if strings.Contains(v.Name, "/") || strings.Contains(v.Base, "/") {
		t.Fatalf("%q: name parts hold a slash: %+v", volname, v)
	}
	if (v.Content == Images || v.Content == Rootdir) && (v.VMID < 100 || v.VMID > 999999999) {
		t.Fatalf("%q: image owned by guest %d", volname, v.VMID)
	}
	back := render(v)
	if back != volname {
		t.Fatalf("%q parsed as %+v renders as %q", volname, v, back)
	}
	again, err := reparse(back)
	if err != nil || again != v {
		t.Fatalf("%q reparsed as %+v, %v; first %+v", back, again, err, v)
	}
}

func FuzzParseFileVolname(f *testing.F) {
	for _, tc := range fileVolnames {
		f.Add(tc.volname)
	}
	f.Fuzz(func(t *testing.T, volname string) {
		v, err := ParseFileVolname(volname)
		if err != nil {
			return
		}
		checkParsedVolname(t, volname, v, FileVolname, ParseFileVolname)
	})
}

func FuzzParseBlockVolname(f *testing.F) {
	for _, tc := range blockVolnames {
		f.Add(tc.volname)
	}
	f.Fuzz(func(t *testing.T, volname string) {
		v, err := ParseBlockVolname(volname)
		if err != nil {
			return
		}
		if v.Content != Images && v.Content != Rootdir {
			t.Fatalf("%q: block volume of content %s", volname, v.Content)
		}
		checkParsedVolname(t, volname, v, BlockVolname, ParseBlockVolname)
	})
}
