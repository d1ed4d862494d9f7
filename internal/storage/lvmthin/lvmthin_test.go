package lvmthin

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

const (
	vgsCmd  = "vgs --separator : --noheadings --units b --unbuffered --nosuffix --options vg_name,vg_size,vg_free,lv_count"
	lvsAll  = `lvs --separator : --noheadings --units b --unbuffered --nosuffix --config 'report/time_format="%s"' --options vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,uuid,tags,metadata_size,time`
	lvsCmd  = lvsAll + " pve"
	sizeCmd = "lvs --separator : --noheadings --units b --unbuffered --nosuffix --options lv_size /dev/pve/vm-100-disk-0"
)

var ctx = context.Background()

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newTest(t *testing.T) (*Storage, *runner.Recorder) {
	t.Helper()
	r := &runner.Recorder{}
	st, err := Plugin().Open(storage.Config{ID: "local-lvm", Type: "lvmthin", Props: map[string]string{"vgname": "pve", "thinpool": "data"}},
		storage.Env{Node: "pve1", Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Storage), r
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func checkLines(t *testing.T, r *runner.Recorder, want []string) {
	t.Helper()
	got := r.Lines()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("commands:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

type plan struct {
	name  string
	setup func(r *runner.Recorder)
	run   func(s *Storage) error
	want  []string
	err   string
}

func runPlans(t *testing.T, plans []plan) {
	t.Helper()
	for _, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			s, r := newTest(t)
			if p.setup != nil {
				p.setup(r)
			}
			checkErr(t, p.run(s), p.err)
			checkLines(t, r, p.want)
		})
	}
}

func TestInfoOpen(t *testing.T) {
	info := Plugin().Info()
	var keys []string
	for k := range info.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"bwlimit", "content", "disable", "nodes", "thinpool", "vgname"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("options %v", keys)
	}
	for _, k := range []string{"thinpool", "vgname"} {
		if o := info.Options[k]; !o.Required || !o.Fixed {
			t.Errorf("%s: %+v", k, o)
		}
	}
	if Plugin().Type() != "lvmthin" || info.Shared || info.SharedOption || !info.LinkedClones || !info.Sparse ||
		!reflect.DeepEqual(info.Snapshots, []string{"raw"}) || !reflect.DeepEqual(info.DefaultContent, []storage.Content{storage.Images, storage.Rootdir}) {
		t.Errorf("info %+v", info)
	}
	for _, tt := range []struct {
		props map[string]string
		err   string
	}{
		{map[string]string{"thinpool": "data"}, "vgname is required"},
		{map[string]string{"vgname": "pve"}, "thinpool is required"},
		{map[string]string{"vgname": "pve", "thinpool": "da ta"}, "invalid thin pool name"},
		{map[string]string{"vgname": "p/ve", "thinpool": "data"}, "invalid volume group name"},
	} {
		_, err := Plugin().Open(storage.Config{ID: "t", Props: tt.props}, storage.Env{Runner: &runner.Recorder{}})
		checkErr(t, err, tt.err)
	}
}

func TestActivateStatus(t *testing.T) {
	status := func(want storage.Status) func(s *Storage) error {
		return func(s *Storage) error {
			got, err := s.Status(ctx)
			if got != want {
				t.Errorf("status %+v, want %+v", got, want)
			}
			return err
		}
	}
	const vgs = "  pve:68719476736:12884901888:11\n"
	runPlans(t, []plan{
		{
			name:  "active pool",
			setup: func(r *runner.Recorder) { r.On(vgsCmd, vgs).On(lvsCmd, fixture(t, "lvs.txt")) },
			run:   func(s *Storage) error { return s.Activate(ctx) },
			want:  []string{vgsCmd, lvsCmd},
		},
		{
			name: "inactive pool",
			setup: func(r *runner.Recorder) {
				r.On(vgsCmd, vgs).On(lvsCmd, strings.Replace(fixture(t, "lvs.txt"), "twi-aotz--", "twi---tz--", 1)).On("lvchange -ay -K pve/data", "")
			},
			run:  func(s *Storage) error { return s.Activate(ctx) },
			want: []string{vgsCmd, lvsCmd, "lvchange -ay -K pve/data"},
		},
		{
			name:  "missing pool",
			setup: func(r *runner.Recorder) { r.On(vgsCmd, vgs).On(lvsCmd, "") },
			run:   func(s *Storage) error { return s.Activate(ctx) },
			want:  []string{vgsCmd, lvsCmd},
			err:   "no such logical volume pve/data",
		},
		{
			name:  "missing group",
			setup: func(r *runner.Recorder) { r.On(vgsCmd, "").On("vgscan --ignorelockingfailure --mknodes", "") },
			run:   func(s *Storage) error { return s.Activate(ctx) },
			want:  []string{vgsCmd, "vgscan --ignorelockingfailure --mknodes", vgsCmd},
			err:   `volume group "pve" not found`,
		},
		{
			name:  "status",
			setup: func(r *runner.Recorder) { r.On(lvsAll, fixture(t, "lvs_all.txt")) },
			run:   status(storage.Status{Active: true, Total: 34359738368, Used: 8057358647, Avail: 34359738368 - 8057358647}),
			want:  []string{lvsAll},
		},
		{
			name: "status of the captured inactive pool",
			setup: func(r *runner.Recorder) {
				r.On(lvsAll, strings.ReplaceAll(fixture(t, "lvs_captured.txt"), "hearthcap:", "pve:"))
			},
			run:  status(storage.Status{Active: false, Total: 41943040, Avail: 41943040}),
			want: []string{lvsAll},
		},
		{
			name:  "status of a missing group",
			setup: func(r *runner.Recorder) { r.On(lvsAll, "") },
			run:   status(storage.Status{}),
			want:  []string{lvsAll},
		},
		{
			name:  "pool is not a thin pool",
			setup: func(r *runner.Recorder) { r.On(lvsAll, "  pve:data:1048576:-wi-a-----:::::u:::1\n") },
			run:   status(storage.Status{}),
			want:  []string{lvsAll},
			err:   "pve/data is not a thin pool",
		},
		{
			name:  "deactivate",
			setup: func(r *runner.Recorder) { r.On("vgchange -aln pve", "") },
			run:   func(s *Storage) error { return s.Deactivate(ctx) },
			want:  []string{"vgchange -aln pve"},
		},
	})
}

func TestList(t *testing.T) {
	s, r := newTest(t)
	r.On(lvsCmd, fixture(t, "lvs.txt"))
	vols, err := s.List(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Volume{
		{Volname: "base-103-disk-0", Content: storage.Images, Format: "raw", Size: 1073741824, Used: 1073741824, VMID: 103, CTime: 1700003000},
		{Volname: "vm-100-disk-0", Content: storage.Images, Format: "raw", Size: 34359738368, Used: 3435973836, VMID: 100, CTime: 1700001000},
		{Volname: "vm-100-disk-1", Content: storage.Images, Format: "raw", Size: 4194304, VMID: 100, CTime: 1700001500},
		{Volname: "vm-104-disk-0", Content: storage.Images, Format: "raw", Size: 1073741824, Used: 1073741824, VMID: 104, CTime: 1700004000},
	}
	if !reflect.DeepEqual(vols, want) {
		t.Errorf("list\n%+v\nwant\n%+v", vols, want)
	}
	vols, _ = s.List(ctx, 104, []storage.Content{storage.Rootdir})
	if len(vols) != 1 || vols[0].Volname != "vm-104-disk-0" || vols[0].Content != storage.Rootdir {
		t.Errorf("rootdir of 104: %+v", vols)
	}
	if vols, _ := s.List(ctx, 0, []storage.Content{storage.Backup}); vols != nil {
		t.Errorf("backup listing: %+v", vols)
	}
}

func TestAllocFreeResize(t *testing.T) {
	alloc := func(vmid int, name string, size int64, want string) func(s *Storage) error {
		return func(s *Storage) error {
			got, err := s.Alloc(ctx, vmid, name, "raw", size)
			if err == nil && got != want {
				t.Errorf("allocated %q, want %q", got, want)
			}
			return err
		}
	}
	lvs := func(r *runner.Recorder) { r.On(lvsCmd, fixture(t, "lvs.txt")) }
	const create = "lvcreate -aly -V 33554432k --name vm-100-disk-2 --thinpool pve/data"
	runPlans(t, []plan{
		{name: "alloc", setup: func(r *runner.Recorder) { lvs(r); r.On(create, "") }, run: alloc(100, "", 32<<30, "vm-100-disk-2"), want: []string{lvsCmd, create}},
		{
			name: "alloc given name",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.On("lvcreate -aly -V 4k --name vm-200-cloudinit --thinpool pve/data", "")
			},
			run:  alloc(200, "vm-200-cloudinit", 4096, "vm-200-cloudinit"),
			want: []string{lvsCmd, "lvcreate -aly -V 4k --name vm-200-cloudinit --thinpool pve/data"},
		},
		{name: "alloc existing", setup: lvs, run: alloc(100, "vm-100-disk-1", 1<<20, ""), want: []string{lvsCmd}, err: "vm-100-disk-1 already exists"},
		{name: "alloc base name", run: alloc(100, "base-100-disk-9", 1<<20, ""), err: "bases are made from them"},
		{name: "alloc other guest", run: alloc(100, "vm-1000-disk-0", 1<<20, ""), err: "belongs to guest 1000"},
		{name: "alloc subvol", run: func(s *Storage) error { _, err := s.Alloc(ctx, 100, "", "subvol", 1<<20); return err }, err: `unsupported format "subvol"`},
		{name: "alloc without pool", setup: func(r *runner.Recorder) { r.On(lvsCmd, "") }, run: alloc(100, "", 1<<20, ""), want: []string{lvsCmd}, err: "no thin pool pve/data"},
		{
			name: "alloc fails",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.Fail(create, 5, "  Cannot create new thin volume, free space in thin pool pve/data reached threshold.\n")
			},
			run:  alloc(100, "", 32<<30, ""),
			want: []string{lvsCmd, create},
			err:  "reached threshold",
		},
		{
			name: "free with snapshots",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.On("lvremove -f pve/snap_vm-100-disk-0_before-upgrade", "").On("lvremove -f pve/snap_vm-100-disk-0_first", "").On("lvremove -f pve/vm-100-disk-0", "")
			},
			run:  func(s *Storage) error { return s.Free(ctx, "vm-100-disk-0") },
			want: []string{lvsCmd, "lvremove -f pve/snap_vm-100-disk-0_before-upgrade", "lvremove -f pve/snap_vm-100-disk-0_first", "lvremove -f pve/vm-100-disk-0"},
		},
		{name: "free missing volume", setup: lvs, run: func(s *Storage) error { return s.Free(ctx, "vm-100-disk-7") }, want: []string{lvsCmd}},
		{
			name: "free fails on a snapshot",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.Fail("lvremove -f pve/snap_vm-100-disk-0_before-upgrade", 5, "  Logical volume pve/snap_vm-100-disk-0_before-upgrade in use.\n")
			},
			run:  func(s *Storage) error { return s.Free(ctx, "vm-100-disk-0") },
			want: []string{lvsCmd, "lvremove -f pve/snap_vm-100-disk-0_before-upgrade"},
			err:  "in use",
		},
		{name: "free bad name", run: func(s *Storage) error { return s.Free(ctx, "data") }, err: "illegal lvmthin volume name"},
		{
			name:  "resize",
			setup: func(r *runner.Recorder) { r.On("lvextend -L 40960M /dev/pve/vm-100-disk-0", "") },
			run:   func(s *Storage) error { return s.Resize(ctx, "vm-100-disk-0", 40<<30) },
			want:  []string{"lvextend -L 40960M /dev/pve/vm-100-disk-0"},
		},
		{
			name:  "volume",
			setup: func(r *runner.Recorder) { r.On(sizeCmd, "  34359738368\n") },
			run: func(s *Storage) error {
				v, err := s.Volume(ctx, "vm-100-disk-0")
				if v.Size != 34359738368 || v.VMID != 100 || v.Format != "raw" {
					t.Errorf("volume %+v", v)
				}
				return err
			},
			want: []string{sizeCmd},
		},
	})
}

func TestAllocRootdir(t *testing.T) {
	const create = "lvcreate -aly -V 8388608k --name vm-100-disk-2 --thinpool pve/data"
	const mkfs = "mkfs.ext4 -O mmp -E root_owner=0:0 /dev/pve/vm-100-disk-2"
	runPlans(t, []plan{
		{
			name:  "ok",
			setup: func(r *runner.Recorder) { r.On(lvsCmd, fixture(t, "lvs.txt")).On(create, "").On(mkfs, "") },
			run:   func(s *Storage) error { _, err := s.AllocRootdir(ctx, 100, "", 8<<30, 0, 0); return err },
			want:  []string{lvsCmd, create, mkfs},
		},
		{
			name: "mkfs fails",
			setup: func(r *runner.Recorder) {
				r.On(lvsCmd, fixture(t, "lvs.txt")).On(create, "").Fail(mkfs, 1, "mkfs.ext4: No such file or directory\n").On("lvremove -f pve/vm-100-disk-2", "")
			},
			run:  func(s *Storage) error { _, err := s.AllocRootdir(ctx, 100, "", 8<<30, 0, 0); return err },
			want: []string{lvsCmd, create, mkfs, "lvremove -f pve/vm-100-disk-2"},
			err:  "make file system on vm-100-disk-2",
		},
	})
}

func TestAttach(t *testing.T) {
	attach := func(vol, snap string, want storage.Attachment) func(s *Storage) error {
		return func(s *Storage) error {
			a, err := s.Attach(ctx, vol, snap)
			if err == nil && !reflect.DeepEqual(a, want) {
				t.Errorf("attachment %+v\nwant %+v", a, want)
			}
			return err
		}
	}
	lvs := func(r *runner.Recorder) { r.On(lvsCmd, fixture(t, "lvs.txt")) }
	dev := func(p string, ro bool) storage.Attachment {
		a := storage.Attachment{Path: p, Format: "raw", Blockdev: map[string]any{"driver": "host_device", "filename": p}, Mount: &storage.Mount{Source: p, FSType: "ext4"}}
		if ro {
			a.Blockdev["read-only"] = true
			a.Mount.Options = []string{"ro", "noload"}
		}
		return a
	}
	runPlans(t, []plan{
		{name: "active volume", setup: lvs, run: attach("vm-100-disk-0", "", dev("/dev/pve/vm-100-disk-0", false)), want: []string{lvsCmd}},
		{
			name:  "inactive volume",
			setup: func(r *runner.Recorder) { lvs(r); r.On("lvchange -ay -K pve/vm-100-disk-1", "") },
			run:   attach("vm-100-disk-1", "", dev("/dev/pve/vm-100-disk-1", false)),
			want:  []string{lvsCmd, "lvchange -ay -K pve/vm-100-disk-1"},
		},
		{
			name:  "snapshot",
			setup: func(r *runner.Recorder) { lvs(r); r.On("lvchange -ay -K pve/snap_vm-100-disk-0_first", "") },
			run:   attach("vm-100-disk-0", "first", dev("/dev/pve/snap_vm-100-disk-0_first", true)),
			want:  []string{lvsCmd, "lvchange -ay -K pve/snap_vm-100-disk-0_first"},
		},
		{name: "missing snapshot", setup: lvs, run: attach("vm-100-disk-0", "nope", storage.Attachment{}), want: []string{lvsCmd}, err: "no such logical volume pve/snap_vm-100-disk-0_nope"},
		{name: "bad snapshot name", run: attach("vm-100-disk-0", "a/b", storage.Attachment{}), err: "illegal snapshot name"},
		{
			name: "activation fails",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.Fail("lvchange -ay -K pve/vm-100-disk-1", 5, "  Check of pool pve/data failed (status:1). Manual repair required!\n")
			},
			run:  attach("vm-100-disk-1", "", storage.Attachment{}),
			want: []string{lvsCmd, "lvchange -ay -K pve/vm-100-disk-1"},
			err:  "Manual repair required",
		},
	})
}

func TestRename(t *testing.T) {
	rename := func(vol string, vmid int, name, want string) func(s *Storage) error {
		return func(s *Storage) error {
			got, err := s.Rename(ctx, vol, vmid, name)
			if err == nil && got != want {
				t.Errorf("renamed to %q, want %q", got, want)
			}
			return err
		}
	}
	lvs := func(r *runner.Recorder) { r.On(lvsCmd, fixture(t, "lvs.txt")) }
	runPlans(t, []plan{
		{
			name:  "reassign",
			setup: func(r *runner.Recorder) { lvs(r); r.On("lvrename pve vm-104-disk-0 vm-100-disk-2", "") },
			run:   rename("vm-104-disk-0", 100, "", "vm-100-disk-2"),
			want:  []string{lvsCmd, "lvrename pve vm-104-disk-0 vm-100-disk-2"},
		},
		{name: "with snapshots", setup: lvs, run: rename("vm-100-disk-0", 101, "", ""), want: []string{lvsCmd}, err: "has snapshots"},
		{name: "base", run: rename("base-103-disk-0", 101, "", ""), err: "cannot be renamed"},
		{name: "target exists", setup: lvs, run: rename("vm-104-disk-0", 100, "vm-100-disk-1", ""), want: []string{lvsCmd}, err: "already exists"},
	})
}

func TestSnapshots(t *testing.T) {
	lvs := func(r *runner.Recorder) { r.On(lvsCmd, fixture(t, "lvs.txt")) }
	runPlans(t, []plan{
		{
			name:  "snapshot",
			setup: func(r *runner.Recorder) { r.On("lvcreate -n snap_vm-100-disk-0_third -pr -s pve/vm-100-disk-0", "") },
			run:   func(s *Storage) error { return s.Snapshot(ctx, "vm-100-disk-0", "third") },
			want:  []string{"lvcreate -n snap_vm-100-disk-0_third -pr -s pve/vm-100-disk-0"},
		},
		{name: "snapshot of a base", run: func(s *Storage) error { return s.Snapshot(ctx, "base-103-disk-0", "x1") }, err: "have no snapshots"},
		{name: "snapshot bad name", run: func(s *Storage) error { return s.Snapshot(ctx, "vm-100-disk-0", "x y") }, err: "illegal snapshot name"},
		{name: "snapshot option-like name", run: func(s *Storage) error { return s.Snapshot(ctx, "vm-100-disk-0", "-pr") }, err: "illegal snapshot name"},
		{
			name: "rollback",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.On("lvremove -f pve/vm-100-disk-0", "").On("lvcreate -kn -n vm-100-disk-0 -s pve/snap_vm-100-disk-0_first", "")
			},
			run:  func(s *Storage) error { return s.Rollback(ctx, "vm-100-disk-0", "first") },
			want: []string{lvsCmd, "lvremove -f pve/vm-100-disk-0", "lvcreate -kn -n vm-100-disk-0 -s pve/snap_vm-100-disk-0_first"},
		},
		{name: "rollback to a missing snapshot keeps the volume", setup: lvs, run: func(s *Storage) error { return s.Rollback(ctx, "vm-100-disk-0", "nope") }, want: []string{lvsCmd}, err: `no snapshot "nope"`},
		{
			name: "rollback volume in use",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.Fail("lvremove -f pve/vm-100-disk-0", 5, "  Logical volume pve/vm-100-disk-0 in use.\n")
			},
			run:  func(s *Storage) error { return s.Rollback(ctx, "vm-100-disk-0", "first") },
			want: []string{lvsCmd, "lvremove -f pve/vm-100-disk-0"},
			err:  "in use",
		},
		{
			name:  "delete snapshot",
			setup: func(r *runner.Recorder) { r.On("lvremove -f pve/snap_vm-100-disk-0_first", "") },
			run:   func(s *Storage) error { return s.DeleteSnapshot(ctx, "vm-100-disk-0", "first") },
			want:  []string{"lvremove -f pve/snap_vm-100-disk-0_first"},
		},
	})
	for lv, want := range map[string]bool{
		"snap_vm-100-disk-0_first": true, "snap_vm-100-disk-0_before-upgrade": true, "snap_vm-100-disk-0_": false,
		"snap_vm-100-disk-00_first": false, "snap_vm-100-disk-0_1st": false, "vm-100-disk-0": false,
	} {
		if got := isSnapOf(lv, "vm-100-disk-0"); got != want {
			t.Errorf("isSnapOf(%q) = %v", lv, got)
		}
	}
}

func TestBaseAndClone(t *testing.T) {
	lvs := func(r *runner.Recorder) { r.On(lvsCmd, fixture(t, "lvs.txt")) }
	clone := func(vol string, vmid int, snap, want string) func(s *Storage) error {
		return func(s *Storage) error {
			got, err := s.Clone(ctx, vol, vmid, snap)
			if err == nil && got != want {
				t.Errorf("clone %q, want %q", got, want)
			}
			return err
		}
	}
	runPlans(t, []plan{
		{
			name: "create base",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.On("lvrename pve vm-104-disk-0 base-104-disk-0", "").On("lvchange -an -pr -ky pve/base-104-disk-0", "")
			},
			run: func(s *Storage) error {
				b, err := s.CreateBase(ctx, "vm-104-disk-0")
				if err == nil && b != "base-104-disk-0" {
					t.Errorf("base %q", b)
				}
				return err
			},
			want: []string{lvsCmd, "lvrename pve vm-104-disk-0 base-104-disk-0", "lvchange -an -pr -ky pve/base-104-disk-0"},
		},
		{
			name: "create base renames back when lvchange fails",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.On("lvrename pve vm-104-disk-0 base-104-disk-0", "").Fail("lvchange -an -pr -ky pve/base-104-disk-0", 5, "  Logical volume pve/base-104-disk-0 is used by another device.\n").
					On("lvrename pve base-104-disk-0 vm-104-disk-0", "")
			},
			run:  func(s *Storage) error { _, err := s.CreateBase(ctx, "vm-104-disk-0"); return err },
			want: []string{lvsCmd, "lvrename pve vm-104-disk-0 base-104-disk-0", "lvchange -an -pr -ky pve/base-104-disk-0", "lvrename pve base-104-disk-0 vm-104-disk-0"},
			err:  "used by another device",
		},
		{name: "create base with snapshots", setup: lvs, run: func(s *Storage) error { _, err := s.CreateBase(ctx, "vm-100-disk-0"); return err }, want: []string{lvsCmd}, err: "has snapshots"},
		{name: "create base of a base", run: func(s *Storage) error { _, err := s.CreateBase(ctx, "base-103-disk-0"); return err }, err: "already a base"},
		{
			name: "linked clone of a base",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.On("lvcreate -n vm-101-disk-0 -prw -kn -s pve/base-103-disk-0", "")
			},
			run:  clone("base-103-disk-0", 101, "", "vm-101-disk-0"),
			want: []string{lvsCmd, "lvcreate -n vm-101-disk-0 -prw -kn -s pve/base-103-disk-0"},
		},
		{
			name: "clone of a snapshot",
			setup: func(r *runner.Recorder) {
				lvs(r)
				r.On("lvcreate -n vm-100-disk-2 -prw -kn -s pve/snap_vm-100-disk-0_first", "")
			},
			run:  clone("vm-100-disk-0", 100, "first", "vm-100-disk-2"),
			want: []string{lvsCmd, "lvcreate -n vm-100-disk-2 -prw -kn -s pve/snap_vm-100-disk-0_first"},
		},
		{name: "clone of a plain volume", run: clone("vm-100-disk-0", 101, "", ""), err: "template bases or snapshots"},
		{name: "clone of a missing base", setup: lvs, run: clone("base-109-disk-0", 101, "", ""), want: []string{lvsCmd}, err: "no such volume base-109-disk-0"},
	})
}

func TestExportImport(t *testing.T) {
	const (
		act     = "lvchange -ay -K pve/snap_vm-100-disk-0_first"
		getsize = "blockdev --getsize64 /dev/pve/snap_vm-100-disk-0_first"
		ddIn    = "dd if=/dev/pve/snap_vm-100-disk-0_first bs=64k status=progress"
	)
	s, r := newTest(t)
	r.On(lvsCmd, fixture(t, "lvs.txt")).On(act, "").On(getsize, "34359738368\n").On(ddIn, "SNAPDATA")
	var out bytes.Buffer
	if err := s.Export(ctx, "vm-100-disk-0", "raw+size", "first", &out); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint64(out.Bytes()) != 34359738368 || out.String()[8:] != "SNAPDATA" {
		t.Errorf("stream %q", out.Bytes())
	}
	checkLines(t, r, []string{lvsCmd, act, getsize, ddIn})

	const vm120 = "  pve:vm-120-disk-0:1073741824:Vwi-a-tz--:data:0.00:::Nw1Vol-Nbe3-nNyj-Oq9w-MxEh-h2FD-EEtfjg:::1700009000\n"
	stream := func() *bytes.Reader {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, uint64(1<<30))
		b.WriteString("BASEDATA")
		return bytes.NewReader(b.Bytes())
	}
	// a template base arrives through its vm- name
	var got []byte
	s, r = newTest(t)
	r.On(lvsCmd, fixture(t, "lvs.txt")).On("lvcreate -aly -V 1048576k --name vm-120-disk-0 --thinpool pve/data", "").
		Capture("dd of=/dev/pve/vm-120-disk-0 conv=sparse bs=64k", "", &got).
		On("lvrename pve vm-120-disk-0 base-120-disk-0", "").On("lvchange -an -pr -ky pve/base-120-disk-0", "")
	s.r = &sequence{Recorder: r, line: lvsCmd, outs: []string{fixture(t, "lvs.txt"), fixture(t, "lvs.txt"), fixture(t, "lvs.txt") + vm120}}
	name, err := s.Import(ctx, stream(), 120, "base-120-disk-0", "raw+size")
	if err != nil || name != "base-120-disk-0" || string(got) != "BASEDATA" {
		t.Fatalf("import %q %v %q", name, err, got)
	}
	checkLines(t, r, []string{lvsCmd, lvsCmd, "lvcreate -aly -V 1048576k --name vm-120-disk-0 --thinpool pve/data",
		"dd of=/dev/pve/vm-120-disk-0 conv=sparse bs=64k", lvsCmd, "lvrename pve vm-120-disk-0 base-120-disk-0", "lvchange -an -pr -ky pve/base-120-disk-0"})

	// a failed write removes the new volume, which the second lvs shows
	s, r = newTest(t)
	r.On(lvsCmd, "").On("lvcreate -aly -V 1048576k --name vm-120-disk-0 --thinpool pve/data", "").
		Fail("dd of=/dev/pve/vm-120-disk-0 conv=sparse bs=64k", 1, "dd: error reading 'standard input': Connection reset by peer\n").
		On("lvremove -f pve/vm-120-disk-0", "")
	s.r = &sequence{Recorder: r, line: lvsCmd, outs: []string{
		fixture(t, "lvs.txt"),
		fixture(t, "lvs.txt") + vm120,
	}}
	_, err = s.Import(ctx, stream(), 120, "", "raw+size")
	checkErr(t, err, "Connection reset by peer")
	checkLines(t, r, []string{lvsCmd, "lvcreate -aly -V 1048576k --name vm-120-disk-0 --thinpool pve/data", "dd of=/dev/pve/vm-120-disk-0 conv=sparse bs=64k", lvsCmd, "lvremove -f pve/vm-120-disk-0"})

	s, _ = newTest(t)
	if _, err := s.Import(ctx, stream(), 120, "base-103-disk-0", "raw+size"); err == nil {
		t.Error("imported a base for another guest")
	}
	if _, err := s.Import(ctx, stream(), 120, "", "zfs"); err == nil {
		t.Error("imported a zfs stream")
	}
}

// sequence answers successive runs of one command line with successive
// outputs (the state a tool reports changes between calls); every run is
// still recorded by the Recorder.
type sequence struct {
	*runner.Recorder
	line string
	outs []string
	n    int
}

func (q *sequence) Run(ctx context.Context, c runner.Cmd) (runner.Result, error) {
	res, err := q.Recorder.Run(ctx, c)
	if c.String() == q.line && q.n < len(q.outs) {
		res.Stdout = []byte(q.outs[q.n])
		q.n++
	}
	return res, err
}
