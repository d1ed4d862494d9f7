package storagetest

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/storage"
)

// Options fits the suite to what a type really does. The zero value
// suits most types; Run uses it.
type Options struct {
	// Formats are the image formats to exercise; default: info.Formats.
	Formats []string
	// Size of test allocations in bytes; default 4 MiB.
	Size int64
	// SubvolSize is the size given when allocating subvolumes. Default 0:
	// an unsized subvolume, the only kind dir and btrfs (without quotas)
	// accept, as in Proxmox VE.
	SubvolSize int64
	// Resize lists the formats Resize must grow; default raw and qcow2
	// (the formats Proxmox VE resizes on file storages), where tested.
	Resize []string
	// CloneFormat is the format of the template volume in the linked
	// clone test; default info.DefaultFormat.
	CloneFormat string
	// CloneIndependent: clones do not depend on their base (btrfs
	// snapshots), so they name no Parent and the base may be freed
	// while clones exist.
	CloneIndependent bool
	// Content is what the storage under test was configured to hold; the
	// FileStore test checks the directories of these. Default:
	// info.DefaultContent.
	Content []storage.Content
	// Local: attachments must have a Path that exists on this host.
	// Default: !info.Shared.
	Local *bool
	// VMIDBase is the first guest id the suite uses; it uses ids up to
	// VMIDBase+599. Default 8100.
	VMIDBase int
}

func (o Options) withDefaults(info storage.Info) Options {
	if len(o.Formats) == 0 {
		o.Formats = info.Formats
	}
	if o.Size == 0 {
		o.Size = 4 << 20
	}
	if o.Resize == nil {
		o.Resize = []string{"raw", "qcow2"}
	}
	if o.CloneFormat == "" {
		o.CloneFormat = info.DefaultFormat
	}
	if o.Content == nil {
		o.Content = info.DefaultContent
	}
	if o.Local == nil {
		local := !info.Shared
		o.Local = &local
	}
	if o.VMIDBase == 0 {
		o.VMIDBase = 8100
	}
	return o
}

// Run runs the conformance suite with default options. open makes the
// storage under test (configured, not yet activated); it is called once
// and the subtests share the storage, each with guest ids of its own.
func Run(t *testing.T, open func(t *testing.T) storage.Storage, info storage.Info) {
	t.Helper()
	RunOptions(t, open, info, Options{})
}

// RunOptions runs the conformance suite with options.
func RunOptions(t *testing.T, open func(t *testing.T) storage.Storage, info storage.Info, opts Options) {
	t.Helper()
	o := opts.withDefaults(info)
	s := open(t)
	ctx := t.Context()
	if err := s.Activate(ctx); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	t.Run("ActivateIsIdempotent", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if err := s.Activate(t.Context()); err != nil {
				t.Fatalf("Activate (again, %d): %v", i+1, err)
			}
		}
	})
	t.Run("Status", func(t *testing.T) { testStatus(t, s) })
	for i, f := range o.Formats {
		t.Run("Volumes/"+f, func(t *testing.T) { testVolumes(t, s, o, f, o.VMIDBase+10*i) })
	}
	if sn, ok := s.(storage.Snapshotter); ok {
		for i, f := range o.Formats {
			if slices.Contains(info.Snapshots, f) {
				t.Run("Snapshot/"+f, func(t *testing.T) { testSnapshot(t, s, sn, o, f, o.VMIDBase+100+i) })
			}
		}
	}
	if cl, ok := s.(storage.Cloner); ok && info.LinkedClones {
		t.Run("LinkedClone/"+o.CloneFormat, func(t *testing.T) { testClone(t, s, cl, o, o.VMIDBase+200) })
	}
	if rn, ok := s.(storage.Renamer); ok {
		for i, f := range o.Formats {
			t.Run("Rename/"+f, func(t *testing.T) { testRename(t, s, rn, o, f, o.VMIDBase+300+2*i) })
		}
	}
	if ex, ok := s.(storage.Exporter); ok {
		for i, f := range o.Formats {
			t.Run("Export/"+f, func(t *testing.T) { testExport(t, s, ex, o, f, o.VMIDBase+400+10*i) })
		}
	}
	if fs, ok := s.(storage.FileStore); ok {
		t.Run("ContentDirs", func(t *testing.T) { testContentDirs(t, s, fs, o, o.VMIDBase+500) })
	}
}

func testStatus(t *testing.T, s storage.Storage) {
	st, err := s.Status(t.Context())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !st.Active {
		t.Fatalf("Status: not active after Activate: %+v", st)
	}
	if st.Total <= 0 || st.Total < st.Avail || st.Used < 0 || st.Avail < 0 {
		t.Fatalf("Status: implausible space (want total > 0, total >= avail, used >= 0): %+v", st)
	}
}

// allocSize is the size the suite allocates for format.
func allocSize(o Options, format string) int64 {
	if format == "subvol" {
		return o.SubvolSize
	}
	return o.Size
}

// diskPrefix is the name prefix Proxmox VE gives new volumes of format.
func diskPrefix(format string) string {
	if format == "subvol" {
		return "subvol"
	}
	return "vm"
}

// stem is a volume name's last segment without its extension.
func stem(volname string) string {
	leaf := path.Base(volname)
	if i := strings.IndexByte(leaf, '.'); i > 0 {
		return leaf[:i]
	}
	return leaf
}

func mustAlloc(t *testing.T, s storage.Storage, vmid int, name, format string, size int64) string {
	t.Helper()
	v, err := s.Alloc(t.Context(), vmid, name, format, size)
	if err != nil {
		t.Fatalf("Alloc(vmid %d, name %q, %s, %d): %v", vmid, name, format, size, err)
	}
	return v
}

func mustAttach(t *testing.T, s storage.Storage, volname, snap string) storage.Attachment {
	t.Helper()
	a, err := s.Attach(t.Context(), volname, snap)
	if err != nil {
		t.Fatalf("Attach(%s, %q): %v", volname, snap, err)
	}
	return a
}

func mustFree(t *testing.T, s storage.Storage, volnames ...string) {
	t.Helper()
	for _, v := range volnames {
		if err := s.Free(t.Context(), v); err != nil {
			t.Fatalf("Free(%s): %v", v, err)
		}
	}
}

// freeLater frees volumes at the end of the test if it left them, so a
// failed subtest does not disturb the next.
func freeLater(t *testing.T, s storage.Storage, volname *string) {
	t.Cleanup(func() {
		if *volname == "" {
			return
		}
		if _, err := s.Volume(t.Context(), *volname); err == nil {
			_ = s.Free(t.Context(), *volname)
		}
	})
}

func listNames(t *testing.T, s storage.Storage, vmid int, content []storage.Content) map[string]storage.Volume {
	t.Helper()
	vols, err := s.List(t.Context(), vmid, content)
	if err != nil {
		t.Fatalf("List(vmid %d, %v): %v", vmid, content, err)
	}
	m := map[string]storage.Volume{}
	for _, v := range vols {
		if vmid != 0 && v.VMID != vmid {
			t.Errorf("List(vmid %d) returned %s of guest %d", vmid, v.Volname, v.VMID)
		}
		m[v.Volname] = v
	}
	return m
}

func testVolumes(t *testing.T, s storage.Storage, o Options, format string, vmid int) {
	ctx := t.Context()
	size := allocSize(o, format)
	var a0, a1, a7 string
	freeLater(t, s, &a0)
	freeLater(t, s, &a1)
	freeLater(t, s, &a7)

	a0 = mustAlloc(t, s, vmid, "", format, size)
	if got, want := stem(a0), fmt.Sprintf("%s-%d-disk-0", diskPrefix(format), vmid); got != want {
		t.Fatalf("first Alloc without a name = %s, want the name %s", a0, want)
	}
	a1 = mustAlloc(t, s, vmid, "", format, size)
	if got, want := stem(a1), fmt.Sprintf("%s-%d-disk-1", diskPrefix(format), vmid); got != want {
		t.Fatalf("second Alloc without a name = %s, want the name %s", a1, want)
	}
	named := strings.Replace(path.Base(a0), "-disk-0", "-disk-7", 1)
	a7 = mustAlloc(t, s, vmid, named, format, size)
	if path.Base(a7) != named {
		t.Fatalf("Alloc(name %q) = %s, want that name", named, a7)
	}

	att := mustAttach(t, s, a0, "")
	checkAttachment(t, o, format, att)
	hasData := writePattern(t, att, format, 0x5a)

	other := strings.Replace(named, fmt.Sprintf("-%d-", vmid), fmt.Sprintf("-%d-", vmid+1), 1)
	for _, bad := range []string{other, "../" + named, "/tmp/" + named, "x/../" + named, path.Base(a0)} {
		if v, err := s.Alloc(ctx, vmid, bad, format, size); err == nil {
			t.Errorf("Alloc(vmid %d, name %q) = %s, want a refusal", vmid, bad, v)
			_ = s.Free(ctx, v)
		}
	}
	if hasData {
		checkPattern(t, att, format, 0x5a)
	}

	all := listNames(t, s, vmid, nil)
	for _, v := range []string{a0, a1, a7} {
		lv, ok := all[v]
		if !ok {
			t.Fatalf("List(vmid %d) = %v, missing %s", vmid, keys(all), v)
		}
		if lv.Format != format || lv.VMID != vmid {
			t.Errorf("List: %s has format %q and guest %d, want %s and %d", v, lv.Format, lv.VMID, format, vmid)
		}
		if size > 0 && lv.Size < size {
			t.Errorf("List: %s has size %d, want at least %d", v, lv.Size, size)
		}
	}
	if len(all) != 3 {
		t.Errorf("List(vmid %d) = %v, want exactly %s %s %s", vmid, keys(all), a0, a1, a7)
	}
	for v := range listNames(t, s, vmid+1, nil) {
		if v == a0 || v == a1 || v == a7 {
			t.Errorf("List(vmid %d) shows %s of guest %d", vmid+1, v, vmid)
		}
	}
	content := all[a0].Content
	if _, ok := listNames(t, s, vmid, []storage.Content{content})[a0]; !ok {
		t.Errorf("List(vmid %d, %s) misses %s", vmid, content, a0)
	}
	otherContent := storage.Images
	if content == storage.Images {
		otherContent = storage.Rootdir
	}
	for _, c := range []storage.Content{otherContent, storage.ISO} {
		if _, ok := listNames(t, s, vmid, []storage.Content{c})[a0]; ok {
			t.Errorf("List(vmid %d, %s) shows %s, which is %s", vmid, c, a0, content)
		}
	}

	vol, err := s.Volume(ctx, a0)
	if err != nil {
		t.Fatalf("Volume(%s): %v", a0, err)
	}
	if vol.Format != format || vol.VMID != vmid || vol.Volname != a0 || (size > 0 && vol.Size < size) {
		t.Errorf("Volume(%s) = %+v, want format %s, guest %d, size >= %d", a0, vol, format, vmid, size)
	}

	if slices.Contains(o.Resize, format) {
		if err := s.Resize(ctx, a0, 2*o.Size); err != nil {
			t.Fatalf("Resize(%s, %d): %v", a0, 2*o.Size, err)
		}
		if vol, err := s.Volume(ctx, a0); err != nil || vol.Size < 2*o.Size {
			t.Errorf("Volume(%s) after growing to %d = %+v, %v", a0, 2*o.Size, vol, err)
		}
		if hasData {
			checkPattern(t, mustAttach(t, s, a0, ""), format, 0x5a)
		}
	}

	mustFree(t, s, a0, a1, a7)
	left := listNames(t, s, vmid, nil)
	for _, v := range []string{a0, a1, a7} {
		if _, ok := left[v]; ok {
			t.Errorf("List after Free still shows %s", v)
		}
		if _, err := s.Volume(ctx, v); err == nil {
			t.Errorf("Volume(%s) after Free succeeded", v)
		}
	}
}

func checkAttachment(t *testing.T, o Options, format string, a storage.Attachment) {
	t.Helper()
	if format == "subvol" {
		if a.Mount == nil && a.Path == "" {
			t.Errorf("Attach of a subvolume gives neither a mount nor a path: %+v", a)
		}
	} else {
		if d, _ := a.Blockdev["driver"].(string); d == "" {
			t.Errorf("Attach gives no blockdev driver: %+v", a)
		}
		if a.Format == "" {
			t.Errorf("Attach gives no image format: %+v", a)
		}
	}
	if *o.Local {
		if a.Path == "" {
			t.Errorf("Attach of a local volume gives no path: %+v", a)
		} else if !exists(a.Path) {
			t.Errorf("Attach gives path %s, which does not exist", a.Path)
		}
	}
}

func keys(m map[string]storage.Volume) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func testSnapshot(t *testing.T, s storage.Storage, sn storage.Snapshotter, o Options, format string, vmid int) {
	ctx := t.Context()
	var v string
	freeLater(t, s, &v)
	v = mustAlloc(t, s, vmid, "", format, allocSize(o, format))
	hasData := writePattern(t, mustAttach(t, s, v, ""), format, 0x11)
	if err := sn.Snapshot(ctx, v, "s1"); err != nil {
		t.Fatalf("Snapshot(%s, s1): %v", v, err)
	}
	if err := sn.Snapshot(ctx, v, "s1"); err == nil {
		t.Errorf("Snapshot(%s, s1) a second time succeeded, want a refusal", v)
	}
	if hasData {
		writePattern(t, mustAttach(t, s, v, ""), format, 0x22)
		checkPattern(t, mustAttach(t, s, v, ""), format, 0x22)
	}
	if err := sn.Rollback(ctx, v, "nosuchsnap"); err == nil {
		t.Errorf("Rollback(%s) to a missing snapshot succeeded", v)
	}
	if err := sn.Rollback(ctx, v, "s1"); err != nil {
		t.Fatalf("Rollback(%s, s1): %v", v, err)
	}
	if hasData {
		checkPattern(t, mustAttach(t, s, v, ""), format, 0x11)
	}
	if err := sn.DeleteSnapshot(ctx, v, "s1"); err != nil {
		t.Fatalf("DeleteSnapshot(%s, s1): %v", v, err)
	}
	if hasData {
		checkPattern(t, mustAttach(t, s, v, ""), format, 0x11)
	}
	if err := sn.Rollback(ctx, v, "s1"); err == nil {
		t.Errorf("Rollback(%s, s1) after deleting s1 succeeded", v)
	}
	// A volume with a snapshot frees with it.
	if err := sn.Snapshot(ctx, v, "s2"); err != nil {
		t.Fatalf("Snapshot(%s, s2): %v", v, err)
	}
	mustFree(t, s, v)
	if _, ok := listNames(t, s, vmid, nil)[v]; ok {
		t.Errorf("List after Free still shows %s", v)
	}
}

func testClone(t *testing.T, s storage.Storage, cl storage.Cloner, o Options, vmid int) {
	ctx := t.Context()
	format := o.CloneFormat
	var v, base, child string
	freeLater(t, s, &child)
	freeLater(t, s, &base)
	freeLater(t, s, &v)
	v = mustAlloc(t, s, vmid, "", format, allocSize(o, format))
	hasData := writePattern(t, mustAttach(t, s, v, ""), format, 0x33)
	b, err := cl.CreateBase(ctx, v)
	if err != nil {
		t.Fatalf("CreateBase(%s): %v", v, err)
	}
	base, v = b, ""
	if format != "subvol" && !strings.HasPrefix(path.Base(base), "base-") {
		t.Errorf("CreateBase = %s, want a base-%d-… name", base, vmid)
	}
	if _, ok := listNames(t, s, vmid, nil)[base]; !ok {
		t.Errorf("List(vmid %d) misses the base %s", vmid, base)
	}
	if _, err := cl.Clone(ctx, base, vmid+1, "nosuchsnap"); err == nil {
		t.Errorf("Clone(%s) of a missing snapshot succeeded", base)
	}
	c, err := cl.Clone(ctx, base, vmid+1, "")
	if err != nil {
		t.Fatalf("Clone(%s, %d): %v", base, vmid+1, err)
	}
	child = c
	if !strings.HasPrefix(stem(child), fmt.Sprintf("vm-%d-disk-", vmid+1)) && !strings.HasPrefix(stem(child), fmt.Sprintf("subvol-%d-disk-", vmid+1)) {
		t.Errorf("Clone = %s, want a disk of guest %d", child, vmid+1)
	}
	cv, ok := listNames(t, s, vmid+1, nil)[child]
	if !ok {
		t.Fatalf("List(vmid %d) misses the clone %s", vmid+1, child)
	}
	if !o.CloneIndependent {
		if cv.Parent != base {
			t.Errorf("List: clone %s has parent %q, want %s", child, cv.Parent, base)
		}
		if vol, err := s.Volume(ctx, child); err != nil || vol.Parent != base {
			t.Errorf("Volume(%s) = %+v, %v; want parent %s", child, vol, err, base)
		}
		err := s.Free(ctx, base)
		if err == nil {
			t.Fatalf("Free(%s) of a base with a linked clone succeeded", base)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "clone") {
			t.Errorf("Free(%s) refused with %q, which does not say a linked clone uses it", base, err)
		}
	}
	if hasData {
		checkPattern(t, mustAttach(t, s, child, ""), cloneFormat(child, format), 0x33)
		writePattern(t, mustAttach(t, s, child, ""), cloneFormat(child, format), 0x44)
		checkPattern(t, mustAttach(t, s, base, ""), format, 0x33)
	}
	mustFree(t, s, child)
	child = ""
	mustFree(t, s, base)
	base = ""
}

// cloneFormat is the format of a clone: its extension when it has one
// (dir makes qcow2 children of raw bases).
func cloneFormat(volname, base string) string {
	for _, f := range []string{"raw", "qcow2", "vmdk", "subvol"} {
		if strings.HasSuffix(volname, "."+f) {
			return f
		}
	}
	return base
}

func testRename(t *testing.T, s storage.Storage, rn storage.Renamer, o Options, format string, vmid int) {
	ctx := t.Context()
	size := allocSize(o, format)
	var v, r, x string
	freeLater(t, s, &v)
	freeLater(t, s, &r)
	freeLater(t, s, &x)
	v = mustAlloc(t, s, vmid, "", format, size)
	hasData := writePattern(t, mustAttach(t, s, v, ""), format, 0x55)
	got, err := rn.Rename(ctx, v, vmid+1, "")
	if err != nil {
		t.Fatalf("Rename(%s, %d): %v", v, vmid+1, err)
	}
	r, v = got, ""
	if want := fmt.Sprintf("%s-%d-disk-0", diskPrefix(format), vmid+1); stem(r) != want {
		t.Errorf("Rename = %s, want the name %s", r, want)
	}
	if len(listNames(t, s, vmid, nil)) != 0 {
		t.Errorf("List(vmid %d) after renaming its only volume away is not empty", vmid)
	}
	if _, ok := listNames(t, s, vmid+1, nil)[r]; !ok {
		t.Errorf("List(vmid %d) misses the renamed %s", vmid+1, r)
	}
	if hasData {
		checkPattern(t, mustAttach(t, s, r, ""), format, 0x55)
	}
	x = mustAlloc(t, s, vmid+1, "", format, size)
	if got, err := rn.Rename(ctx, x, vmid+1, path.Base(r)); err == nil {
		t.Errorf("Rename(%s) onto the existing %s = %s, want a refusal", x, r, got)
	}
	if hasData {
		checkPattern(t, mustAttach(t, s, r, ""), format, 0x55)
	}
	mustFree(t, s, r, x)
	r, x = "", ""
}

func testExport(t *testing.T, s storage.Storage, ex storage.Exporter, o Options, format string, vmid int) {
	ctx := t.Context()
	size := allocSize(o, format)
	var v string
	freeLater(t, s, &v)
	v = mustAlloc(t, s, vmid, "", format, size)
	hasData := writePattern(t, mustAttach(t, s, v, ""), format, 0x66)
	formats := ex.ExportFormats(ctx, v)
	if len(formats) == 0 {
		t.Skipf("no export formats for %s", v)
	}
	for i, ef := range formats {
		t.Run(ef, func(t *testing.T) {
			var buf bytes.Buffer
			if err := ex.Export(ctx, v, ef, "", &buf); err != nil {
				t.Fatalf("Export(%s, %s): %v", v, ef, err)
			}
			var n string
			freeLater(t, s, &n)
			got, err := ex.Import(ctx, bytes.NewReader(buf.Bytes()), vmid+1+i, "", ef)
			if err != nil {
				t.Fatalf("Import(%s) into guest %d: %v", ef, vmid+1+i, err)
			}
			n = got
			if !strings.Contains(stem(n), fmt.Sprintf("-%d-disk-", vmid+1+i)) {
				t.Errorf("Import = %s, want a disk of guest %d", n, vmid+1+i)
			}
			vol, err := s.Volume(ctx, n)
			if err != nil || (size > 0 && vol.Size < size) {
				t.Errorf("Volume(%s) after import = %+v, %v; want size >= %d", n, vol, err, size)
			}
			if hasData {
				checkPattern(t, mustAttach(t, s, n, ""), vol.Format, 0x66)
			}
			if ef == "raw+size" {
				var again bytes.Buffer
				if err := ex.Export(ctx, n, ef, "", &again); err != nil {
					t.Fatalf("Export(%s, %s): %v", n, ef, err)
				}
				if !bytes.Equal(buf.Bytes(), again.Bytes()) {
					t.Errorf("raw+size export of the imported %s differs from the original (%d vs %d bytes)", n, again.Len(), buf.Len())
				}
			}
			if got, err := ex.Import(ctx, bytes.NewReader(buf.Bytes()), vmid, path.Base(v), ef); err == nil {
				t.Errorf("Import(%s) onto the existing %s = %s, want a refusal", ef, v, got)
			}
			if hasData {
				checkPattern(t, mustAttach(t, s, v, ""), format, 0x66)
			}
			mustFree(t, s, n)
			n = ""
		})
	}
	mustFree(t, s, v)
	v = ""
}
