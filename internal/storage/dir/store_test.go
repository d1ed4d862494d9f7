package dir

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

func env(r runner.Runner) storage.Env {
	return storage.Env{Node: "n1", Runner: r, Log: slog.New(slog.DiscardHandler)}
}

func open(t *testing.T, r runner.Runner, path string, props map[string]string) *Store {
	t.Helper()
	cfg := storage.Config{ID: "test", Type: "dir", Props: map[string]string{"path": path}}
	for k, v := range props {
		cfg.Props[k] = v
	}
	if c, ok := props["content"]; ok {
		for _, x := range strings.Split(c, ",") {
			cfg.Content = append(cfg.Content, storage.Content(x))
		}
	}
	s, err := Plugin{}.Open(cfg, env(r))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s.(*Store)
}

// dirsBelow lists every directory below root, relative to it.
func dirsBelow(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestActivateCreatesProxmoxLayout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  []string
	}{
		{"default content makes images, private and dump", nil,
			[]string{"dump", "images", "private"}},
		{"every content type", map[string]string{"content": "images,rootdir,vztmpl,iso,backup,snippets,import"},
			[]string{"dump", "images", "import", "private", "snippets", "template", "template/cache", "template/iso"}},
		{"iso only", map[string]string{"content": "iso"}, []string{"template", "template/iso"}},
		{"content-dirs moves iso and backup", map[string]string{"content": "iso,backup", "content-dirs": "iso=isos,backup=custom/backup/dir"},
			[]string{"custom", "custom/backup", "custom/backup/dir", "isos"}},
		{"content none makes nothing", map[string]string{"content": "none"}, nil},
		{"create-subdirs off", map[string]string{"content": "iso,backup", "create-subdirs": "0"}, nil},
		{"mkdir off turns off subdirectories too", map[string]string{"content": "iso", "mkdir": "0"}, nil},
		{"create-subdirs wins over mkdir", map[string]string{"content": "iso", "mkdir": "0", "create-subdirs": "1"},
			[]string{"template", "template/iso"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := open(t, &runner.Recorder{}, root, tc.props)
			if err := s.Activate(t.Context()); err != nil {
				t.Fatalf("Activate: %v", err)
			}
			if got := dirsBelow(t, root); !slices.Equal(got, tc.want) {
				t.Errorf("directories = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestActivateCreatesBasePathUnlessTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		props   map[string]string
		created bool
	}{
		{nil, true},
		{map[string]string{"create-base-path": "no"}, false},
		{map[string]string{"mkdir": "0"}, false},
		{map[string]string{"mkdir": "0", "create-base-path": "1"}, true},
	} {
		path := filepath.Join(t.TempDir(), "a", "b")
		s := open(t, &runner.Recorder{}, path, tc.props)
		err := s.Activate(t.Context())
		if tc.created && err != nil {
			t.Errorf("%v: Activate: %v", tc.props, err)
		}
		if !tc.created && (err == nil || !strings.Contains(err.Error(), "does not exist")) {
			t.Errorf("%v: Activate on a missing path = %v, want a refusal saying it does not exist", tc.props, err)
		}
	}
}

func TestContentDirs(t *testing.T) {
	s := open(t, &runner.Recorder{}, "/srv/store", map[string]string{"content-dirs": "iso=isos, backup=/custom/backup,images=vm/disks"})
	for c, want := range map[storage.Content]string{
		storage.ISO: "/srv/store/isos", storage.Backup: "/srv/store/custom/backup", storage.Images: "/srv/store/vm/disks",
		storage.VZTmpl: "/srv/store/template/cache", storage.Snippets: "/srv/store/snippets", storage.Import: "/srv/store/import",
		storage.Rootdir: "/srv/store/private",
	} {
		if got, err := s.ContentDir(c); err != nil || got != want {
			t.Errorf("ContentDir(%s) = %q, %v; want %q", c, got, err, want)
		}
	}
	if got := s.ImageDir(100); got != "/srv/store/vm/disks/100" {
		t.Errorf("ImageDir(100) = %q", got)
	}
	for _, vol := range []struct{ volname, path string }{
		{"100/vm-100-disk-0.qcow2", "/srv/store/vm/disks/100/vm-100-disk-0.qcow2"},
		{"100/base-100-disk-0.raw/101/vm-101-disk-0.qcow2", "/srv/store/vm/disks/101/vm-101-disk-0.qcow2"},
		{"iso/debian.iso", "/srv/store/isos/debian.iso"},
		{"backup/vzdump-qemu-100-2024_01_01-00_00_00.vma.zst", "/srv/store/custom/backup/vzdump-qemu-100-2024_01_01-00_00_00.vma.zst"},
		{"vztmpl/debian-12.tar.zst", "/srv/store/template/cache/debian-12.tar.zst"},
	} {
		if got, _, err := s.Path(vol.volname); err != nil || got != vol.path {
			t.Errorf("Path(%s) = %q, %v; want %q", vol.volname, got, err, vol.path)
		}
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	for _, props := range []map[string]string{
		{"path": "relative/dir"},
		{"path": ""},
		{"content-dirs": "iso"},
		{"content-dirs": "bogus=x"},
		{"content-dirs": "iso=../outside"},
		{"preallocation": "sometimes"},
		{"format": "qed"},
		{"is_mountpoint": "relative"},
		{"max-protected-backups": "-2"},
		{"create-subdirs": "perhaps"},
	} {
		cfg := storage.Config{ID: "test", Type: "dir", Props: map[string]string{"path": "/srv/store"}}
		for k, v := range props {
			cfg.Props[k] = v
		}
		if _, err := (Plugin{}).Open(cfg, env(&runner.Recorder{})); err == nil {
			t.Errorf("Open with %v succeeded, want a refusal", props)
		}
	}
}

func TestIsMountpointRefusesUnmountedPath(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"yes", false},          // the temporary directory is no mount point
		{"1", false},            // booleans in any spelling
		{"no", true},            // not asked
		{"/proc", true},         // a named path that is mounted
		{root + "/nope", false}, // a named path that is not
	} {
		s := open(t, &runner.Recorder{}, root, map[string]string{"is_mountpoint": tc.value})
		err := s.Activate(t.Context())
		if tc.ok != (err == nil) {
			t.Errorf("is_mountpoint=%s: Activate = %v, want ok=%v", tc.value, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "mount point") {
			t.Errorf("is_mountpoint=%s: refusal %q does not say a mount point is missing", tc.value, err)
		}
		st, err := s.Status(t.Context())
		if err != nil || st.Active != tc.ok {
			t.Errorf("is_mountpoint=%s: Status = %+v, %v; want active=%v", tc.value, st, err, tc.ok)
		}
	}
}

func TestParseMountinfoUnescapes(t *testing.T) {
	s := &Store{mountinfo: "testdata/mountinfo"}
	data, err := os.ReadFile(s.mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	got := parseMountinfo(string(data))
	if want := []string{"/proc", "/", "/mnt/data 2"}; !slices.Equal(got, want) {
		t.Errorf("parseMountinfo = %q, want %q", got, want)
	}
}

func TestAllocCommandLines(t *testing.T) {
	for _, tc := range []struct {
		prealloc, format string
		size             int64
		want             string
	}{
		{"", "raw", 4 << 20, "qemu-img create -o preallocation=off -f raw %s 4096K"},
		{"", "qcow2", 4 << 20, "qemu-img create -o preallocation=metadata -f qcow2 %s 4096K"},
		{"metadata", "raw", 1 << 30, "qemu-img create -o preallocation=off -f raw %s 1048576K"},
		{"falloc", "raw", 1000, "qemu-img create -o preallocation=falloc -f raw %s 1K"},
		{"full", "qcow2", 2048, "qemu-img create -o preallocation=full -f qcow2 %s 2K"},
		{"off", "qcow2", 1024, "qemu-img create -o preallocation=off -f qcow2 %s 1K"},
		{"full", "vmdk", 1024, "qemu-img create -f vmdk %s 1K"},
	} {
		root := t.TempDir()
		props := map[string]string{}
		if tc.prealloc != "" {
			props["preallocation"] = tc.prealloc
		}
		rec := (&runner.Recorder{}).OnPrefix("qemu-img create ", "")
		s := open(t, rec, root, props)
		vol, err := s.Alloc(t.Context(), 100, "", tc.format, tc.size)
		if err != nil {
			t.Fatalf("Alloc: %v", err)
		}
		if want := "100/vm-100-disk-0." + tc.format; vol != want {
			t.Errorf("Alloc = %s, want %s", vol, want)
		}
		want := strings.Replace(tc.want, "%s", filepath.Join(root, "images/100/vm-100-disk-0."+tc.format), 1)
		if got := rec.Lines(); !slices.Equal(got, []string{want}) {
			t.Errorf("preallocation %q, %s: ran %q, want %q", tc.prealloc, tc.format, got, want)
		}
	}
}

func TestAllocFailureRemovesTheReservation(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "images/100/vm-100-disk-0.qcow2")
	rec := (&runner.Recorder{}).Fail("qemu-img create -o preallocation=metadata -f qcow2 "+path+" 1024K", 1,
		"qemu-img: "+path+": Could not preallocate metadata: No space left on device\n")
	s := open(t, rec, root, nil)
	_, err := s.Alloc(t.Context(), 100, "", "qcow2", 1<<20)
	if err == nil || !strings.Contains(err.Error(), "No space left") || !strings.Contains(err.Error(), "storage 'test'") {
		t.Fatalf("Alloc = %v, want the tool's complaint with the storage named", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("failed Alloc left %s behind", path)
	}
}

func TestAllocRefusals(t *testing.T) {
	root := t.TempDir()
	s := open(t, &runner.Recorder{}, root, nil)
	if err := os.MkdirAll(filepath.Join(root, "images/100"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "images/100/vm-100-disk-3.raw"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, format string
		size         int64
		says         string
	}{
		{"vm-101-disk-0.raw", "raw", 1024, "belongs to guest 101"},
		{"vm-100-disk-0.qcow2", "raw", 1024, "must end in .raw"},
		{"../vm-100-disk-0.raw", "raw", 1024, "illegal"},
		{"/etc/vm-100-disk-0.raw", "raw", 1024, "illegal"},
		{"vm-100-disk-3.raw", "raw", 1024, "already exists"},
		{"", "subvol", 1024, "cannot have a size"},
		{"", "qed", 1024, "unsupported image format"},
	} {
		_, err := s.Alloc(t.Context(), 100, tc.name, tc.format, tc.size)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Alloc(%q, %s) = %v, want an error saying %q", tc.name, tc.format, err, tc.says)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(root, "images/100/vm-100-disk-3.raw")); string(data) != "keep" {
		t.Errorf("the existing volume was overwritten: %q", data)
	}
}

func TestVolumeReadsQemuImgInfo(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "images/101/vm-101-disk-0.qcow2")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("testdata/qemu-img-info-clone.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := (&runner.Recorder{}).On("qemu-img info --output=json -f qcow2 "+path, string(fixture))
	s := open(t, rec, root, nil)
	vols, err := s.List(t.Context(), 101, nil)
	if err != nil || len(vols) != 1 {
		t.Fatalf("List = %+v, %v", vols, err)
	}
	v := vols[0]
	if v.Volname != "100/base-100-disk-0.raw/101/vm-101-disk-0.qcow2" || v.Parent != "100/base-100-disk-0.raw" ||
		v.Size != 1048576 || v.Used != 200704 || v.Format != "qcow2" || v.VMID != 101 || v.Content != storage.Images {
		t.Errorf("List = %+v", v)
	}
}

func TestSnapshotCommandLines(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "images/100/vm-100-disk-0.qcow2")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("testdata/qemu-img-info-snapshots.json") // has snapshot s1
	if err != nil {
		t.Fatal(err)
	}
	info := "qemu-img info --output=json -f qcow2 " + path
	rec := (&runner.Recorder{}).On(info, string(fixture)).OnPrefix("qemu-img snapshot ", "")
	s := open(t, rec, root, nil)
	ctx := context.Background()
	vol := "100/vm-100-disk-0.qcow2"
	if err := s.Snapshot(ctx, vol, "s2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(ctx, vol, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot(ctx, vol, "s1"); err != nil {
		t.Fatal(err)
	}
	want := []string{info, "qemu-img snapshot -c s2 " + path, info, "qemu-img snapshot -a s1 " + path, info, "qemu-img snapshot -d s1 " + path}
	if got := rec.Lines(); !slices.Equal(got, want) {
		t.Errorf("ran\n%q\nwant\n%q", got, want)
	}
	for _, tc := range []struct {
		err  error
		says string
	}{
		{s.Snapshot(ctx, vol, "s1"), "already exists"},
		{s.Rollback(ctx, vol, "s9"), "has no snapshot s9"},
		{s.Snapshot(ctx, vol, "9lives"), "invalid snapshot name"},
		{s.Snapshot(ctx, "100/vm-100-disk-1.raw", "s3"), "need the qcow2 format"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.says) {
			t.Errorf("got %v, want an error saying %q", tc.err, tc.says)
		}
	}
}
