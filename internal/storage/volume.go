package storage

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Content is a kind of data a storage holds, named as in storage.cfg.
type Content string

// The content types of Proxmox VE.
const (
	Images   Content = "images"   // VM disk images
	Rootdir  Content = "rootdir"  // container root file systems and mount points
	VZTmpl   Content = "vztmpl"   // container templates
	ISO      Content = "iso"      // ISO images
	Backup   Content = "backup"   // vzdump backups
	Snippets Content = "snippets" // hook scripts, cloud-init snippets
	Import   Content = "import"   // disk images and OVAs to import guests from
)

// AllContent lists every content type in the order Proxmox VE prints them.
var AllContent = []Content{Images, Rootdir, VZTmpl, ISO, Backup, Snippets, Import}

// Vol is what a volume name tells about the volume it names.
type Vol struct {
	Content Content
	// Name is the last part of the volume name: "vm-100-disk-0.qcow2",
	// "debian-12.iso", "vzdump-qemu-100-2024_01_01-00_00_00.vma.zst".
	Name string
	// VMID owns the volume (disk images, backups); 0 means no owner.
	VMID int
	// Base is the template volume a linked clone was made from, in the
	// storage's own naming ("base-100-disk-0.qcow2"); BaseVMID owns it.
	Base     string
	BaseVMID int
	// IsBase marks a template's volume (base-<vmid>-…), which linked
	// clones may share and which is never written to.
	IsBase bool
	// Format is the image format (raw, qcow2, vmdk, subvol) or the file
	// kind of other content (iso, img, tar.gz, vma.zst, …).
	Format string
}

// ParseVolumeID splits "storage:volname".
func ParseVolumeID(volid string) (storage, volname string, err error) {
	s, v, ok := strings.Cut(volid, ":")
	if !ok || s == "" || v == "" {
		return "", "", fmt.Errorf("invalid volume id %q: expected <storage>:<volume name>", volid)
	}
	if !storageIDRE.MatchString(s) {
		return "", "", fmt.Errorf("invalid volume id %q: %q is not a storage id (a letter, then letters, digits, '.', '_' or '-')", volid, s)
	}
	return s, v, nil
}

var storageIDRE = regexp.MustCompile(`^(?i:[a-z][a-z0-9._-]*[a-z0-9])$`)

// ValidStorageID reports whether id is a well-formed storage id.
func ValidStorageID(id string) bool { return storageIDRE.MatchString(id) }

// Image names: <kind>-<vmid>-<rest>, where rest has no slash or space.
var (
	imageNameRE = regexp.MustCompile(`^(vm|base|subvol|basevol)-([1-9][0-9]{2,8})-([^/\s]+?)$`)
	isoRE       = regexp.MustCompile(`^[^/\s]+\.(?i:(iso|img))$`)
	vztmplRE    = regexp.MustCompile(`^[^/\s]+\.(tar\.(?:gz|xz|zst|bz2)|tgz)$`)
	backupRE    = regexp.MustCompile(`^vzdump-(openvz|lxc|qemu)-([1-9][0-9]{2,8})-(\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2})\.(tgz|tar|tar\.(?:gz|lzo|zst)|vma|vma\.(?:gz|lzo|zst))$`)
	importRE    = regexp.MustCompile(`^[^/\s]+\.(ova|ovf|qcow2|raw|vmdk)$`)
	fileNameRE  = regexp.MustCompile(`^[^/\s][^/]*$`)
	imageExtRE  = regexp.MustCompile(`\.(raw|qcow2|vmdk|subvol)$`)
)

// ImageFormats are the formats a file storage can hold disk images in.
var ImageFormats = []string{"raw", "qcow2", "vmdk", "subvol"}

// CheckImageName checks the name of a disk image or subvolume for vmid:
// it must start with vm-<vmid>-, base-<vmid>- or subvol-<vmid>- (so one
// guest can never create or take over another's volumes) and hold no
// slashes or spaces. ext is the required extension ("" for block
// storages, whose names have none).
func CheckImageName(name string, vmid int, ext string) error {
	stem := name
	if ext != "" {
		var ok bool
		if stem, ok = strings.CutSuffix(name, "."+ext); !ok {
			return fmt.Errorf("illegal volume name %q: a %s image must end in .%s", name, ext, ext)
		}
	}
	m := imageNameRE.FindStringSubmatch(stem)
	if m == nil || strings.Contains(name, "..") {
		return fmt.Errorf("illegal volume name %q: expected vm-%d-<name>, base-%d-<name> or subvol-%d-<name> without '/', spaces or '..'", name, vmid, vmid, vmid)
	}
	if owner, _ := strconv.Atoi(m[2]); owner != vmid {
		return fmt.Errorf("illegal volume name %q: it belongs to guest %s, not %d", name, m[2], vmid)
	}
	return nil
}

// ParseFileVolname reads a volume name of a file storage (dir, nfs,
// btrfs, ...): "100/vm-100-disk-0.qcow2",
// "100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2" (a linked clone),
// "iso/x.iso", "vztmpl/x.tar.zst", "backup/vzdump-…", "snippets/x",
// "import/x.ova". Names that try to leave their directory are refused.
func ParseFileVolname(volname string) (Vol, error) {
	if strings.HasPrefix(volname, "/") || strings.Contains(volname, "\x00") {
		return Vol{}, fmt.Errorf("illegal volume name %q: must not be an absolute path", volname)
	}
	for _, seg := range strings.Split(volname, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return Vol{}, fmt.Errorf("illegal volume name %q: empty, '.' or '..' path segments are not allowed", volname)
		}
	}
	dir, rest, _ := strings.Cut(volname, "/")
	switch dir {
	case "iso":
		if m := isoRE.FindStringSubmatch(rest); m != nil {
			return Vol{Content: ISO, Name: rest, Format: strings.ToLower(m[1])}, nil
		}
		return Vol{}, fmt.Errorf("illegal ISO volume name %q: expected iso/<name>.iso or iso/<name>.img", volname)
	case "vztmpl":
		if m := vztmplRE.FindStringSubmatch(rest); m != nil {
			return Vol{Content: VZTmpl, Name: rest, Format: m[1]}, nil
		}
		return Vol{}, fmt.Errorf("illegal template volume name %q: expected vztmpl/<name>.tar.gz, .tar.xz, .tar.zst or .tar.bz2", volname)
	case "backup":
		if m := backupRE.FindStringSubmatch(rest); m != nil {
			id, _ := strconv.Atoi(m[2])
			return Vol{Content: Backup, Name: rest, VMID: id, Format: m[4]}, nil
		}
		if fileNameRE.MatchString(rest) && !strings.Contains(rest, "/") {
			// Foreign file names in the dump directory still name volumes
			// (prune leaves them alone); they have no owner.
			return Vol{Content: Backup, Name: rest, Format: backupFormat(rest)}, nil
		}
	case "snippets":
		if fileNameRE.MatchString(rest) && !strings.Contains(rest, "/") {
			return Vol{Content: Snippets, Name: rest, Format: "snippet"}, nil
		}
	case "import":
		if m := importRE.FindStringSubmatch(rest); m != nil {
			return Vol{Content: Import, Name: rest, Format: m[1]}, nil
		}
		return Vol{}, fmt.Errorf("illegal import volume name %q: expected import/<name>.ova, .ovf, .qcow2, .raw or .vmdk", volname)
	}
	return parseFileImage(volname)
}

func backupFormat(name string) string {
	for _, ext := range []string{"vma.zst", "vma.gz", "vma.lzo", "vma", "tar.zst", "tar.gz", "tar.lzo", "tgz", "tar"} {
		if strings.HasSuffix(name, "."+ext) {
			return ext
		}
	}
	return ""
}

func parseFileImage(volname string) (Vol, error) {
	parts := strings.Split(volname, "/")
	bad := fmt.Errorf("illegal volume name %q: expected <vmid>/vm-<vmid>-<name>.<raw|qcow2|vmdk|subvol>, "+
		"<vmid>/base-<vmid>-<name>.<fmt>/<vmid2>/vm-<vmid2>-<name>.qcow2, or iso/, vztmpl/, backup/, snippets/, import/ followed by a file name", volname)
	image := func(dir, name string) (Vol, bool) {
		id, err := strconv.Atoi(dir)
		if err != nil || strconv.Itoa(id) != dir {
			return Vol{}, false
		}
		m := imageExtRE.FindStringSubmatch(name)
		if m == nil || CheckImageName(name, id, m[1]) != nil {
			return Vol{}, false
		}
		content := Images
		if strings.HasPrefix(name, "subvol-") || strings.HasPrefix(name, "basevol-") || m[1] == "subvol" {
			content = Rootdir
		}
		return Vol{Content: content, Name: name, VMID: id, Format: m[1],
			IsBase: strings.HasPrefix(name, "base-") || strings.HasPrefix(name, "basevol-")}, true
	}
	switch len(parts) {
	case 2:
		if v, ok := image(parts[0], parts[1]); ok {
			return v, nil
		}
	case 4:
		base, ok1 := image(parts[0], parts[1])
		child, ok2 := image(parts[2], parts[3])
		if ok1 && ok2 && base.IsBase && !child.IsBase {
			child.Base, child.BaseVMID = base.Name, base.VMID
			return child, nil
		}
	}
	return Vol{}, bad
}

// FileVolname renders the volume name of a file storage for v.
func FileVolname(v Vol) string {
	switch v.Content {
	case ISO:
		return "iso/" + v.Name
	case VZTmpl:
		return "vztmpl/" + v.Name
	case Backup:
		return "backup/" + v.Name
	case Snippets:
		return "snippets/" + v.Name
	case Import:
		return "import/" + v.Name
	}
	if v.Base != "" {
		return fmt.Sprintf("%d/%s/%d/%s", v.BaseVMID, v.Base, v.VMID, v.Name)
	}
	return fmt.Sprintf("%d/%s", v.VMID, v.Name)
}

// ParseBlockVolname reads a volume name of a block storage (lvm,
// lvmthin, zfs, rbd, …): "vm-100-disk-0", "base-100-disk-0",
// "subvol-100-disk-0" (zfs datasets), or "base-100-disk-0/vm-101-disk-0"
// for linked clones on storages that name the base (zfs, rbd).
func ParseBlockVolname(volname string) (Vol, error) {
	parts := strings.Split(volname, "/")
	one := func(name string) (Vol, bool) {
		m := imageNameRE.FindStringSubmatch(name)
		if m == nil || strings.Contains(name, "..") || strings.Contains(name, "@") {
			return Vol{}, false
		}
		id, _ := strconv.Atoi(m[2])
		v := Vol{Content: Images, Name: name, VMID: id, Format: "raw", IsBase: m[1] == "base" || m[1] == "basevol"}
		if m[1] == "subvol" || m[1] == "basevol" {
			v.Content, v.Format = Rootdir, "subvol"
		}
		return v, true
	}
	switch len(parts) {
	case 1:
		if v, ok := one(parts[0]); ok {
			return v, nil
		}
	case 2:
		base, ok1 := one(parts[0])
		child, ok2 := one(parts[1])
		if ok1 && ok2 && base.IsBase && !child.IsBase {
			child.Base, child.BaseVMID = base.Name, base.VMID
			return child, nil
		}
	}
	return Vol{}, fmt.Errorf("illegal volume name %q: expected vm-<vmid>-disk-<n>, base-<vmid>-disk-<n>, subvol-<vmid>-disk-<n> or base-<vmid>-disk-<n>/vm-<vmid2>-disk-<m>", volname)
}

// BlockVolname renders the volume name of a block storage for v.
func BlockVolname(v Vol) string {
	if v.Base != "" {
		return v.Base + "/" + v.Name
	}
	return v.Name
}

// NextDiskName picks the first free "<prefix>-<vmid>-disk-<n><ext>" that
// is not in taken (a set of names already used on the storage, with or
// without extension). prefix is "vm", "base" or "subvol"; ext is "" or
// ".qcow2" and so on. Names of both vm- and base- volumes count as taken
// for a number, so that converting to a template never collides.
func NextDiskName(taken []string, vmid int, prefix, ext string) (string, error) {
	used := map[int]bool{}
	for _, t := range taken {
		t = imageExtRE.ReplaceAllString(t, "")
		for _, p := range []string{"vm", "base", "subvol", "basevol"} {
			if n, ok := strings.CutPrefix(t, fmt.Sprintf("%s-%d-disk-", p, vmid)); ok {
				if i, err := strconv.Atoi(n); err == nil {
					used[i] = true
				}
			}
		}
	}
	for i := 0; i < 1000; i++ {
		if !used[i] {
			return fmt.Sprintf("%s-%d-disk-%d%s", prefix, vmid, i, ext), nil
		}
	}
	return "", fmt.Errorf("guest %d already has 1000 disks on this storage; no free disk name", vmid)
}

// SortVolumes orders a listing as Proxmox VE does: by volume id.
func SortVolumes(v []Volume) {
	sort.Slice(v, func(i, j int) bool { return v[i].Volname < v[j].Volname })
}
