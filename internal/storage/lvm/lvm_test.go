package lvm

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

const (
	vgsCmd  = "vgs --separator : --noheadings --units b --unbuffered --nosuffix --options vg_name,vg_size,vg_free,lv_count"
	lvsCmd  = `lvs --separator : --noheadings --units b --unbuffered --nosuffix --config 'report/time_format="%s"' --options vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,uuid,tags,metadata_size,time hearthcap`
	sizeCmd = "lvs --separator : --noheadings --units b --unbuffered --nosuffix --options lv_size /dev/hearthcap/vm-100-disk-0"
)

// newTest opens an lvm storage on the captured group "hearthcap".
func newTest(t *testing.T, props map[string]string) (*Storage, *runner.Recorder) {
	t.Helper()
	r := &runner.Recorder{}
	p := map[string]string{"vgname": "hearthcap"}
	for k, v := range props {
		p[k] = v
	}
	st, err := Plugin().Open(storage.Config{ID: "vmdata", Type: "lvm", Props: p}, storage.Env{Node: "pve1", Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Storage), r
}

func TestInfo(t *testing.T) {
	p := Plugin()
	if p.Type() != "lvm" {
		t.Fatal(p.Type())
	}
	info := p.Info()
	var keys []string
	for k := range info.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"base", "bwlimit", "content", "disable", "nodes", "saferemove", "saferemove-stepsize", "saferemove_throughput", "shared", "snapshot-as-volume-chain", "tagged_only", "vgname"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("options %v\nwant    %v", keys, want)
	}
	if o := info.Options["vgname"]; !o.Required || !o.Fixed {
		t.Errorf("vgname: %+v", o)
	}
	if o := info.Options["base"]; o.Required || !o.Fixed {
		t.Errorf("base: %+v", o)
	}
	if info.Shared || !info.SharedOption || info.LinkedClones || len(info.Snapshots) != 0 || info.Sparse {
		t.Errorf("capabilities: %+v", info)
	}
	if !reflect.DeepEqual(info.Formats, []string{"raw"}) || info.DefaultFormat != "raw" ||
		!reflect.DeepEqual(info.Content, []storage.Content{storage.Images, storage.Rootdir}) ||
		!reflect.DeepEqual(info.DefaultContent, []storage.Content{storage.Images}) {
		t.Errorf("content and formats: %+v", info)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		props map[string]string
		err   string
	}{
		{props: map[string]string{}, err: "vgname is required"},
		{props: map[string]string{"vgname": "bad/vg"}, err: "invalid volume group name"},
		{props: map[string]string{"vgname": "pve", "saferemove": "maybe"}, err: "not a boolean"},
		{props: map[string]string{"vgname": "pve", "saferemove-stepsize": "3"}, err: "saferemove-stepsize"},
		{props: map[string]string{"vgname": "pve", "saferemove-stepsize": "64"}, err: "saferemove-stepsize"},
		{props: map[string]string{"vgname": "pve", "saferemove_throughput": "10M; rm"}, err: "saferemove_throughput"},
		{props: map[string]string{"vgname": "pve", "base": "no-volume-id"}, err: "base"},
		{props: map[string]string{"vgname": "pve", "base": "iscsi1:0.0.1.scsi-36001405", "saferemove": "1", "saferemove-stepsize": "8",
			"saferemove_throughput": "1048576", "tagged_only": "1", "snapshot-as-volume-chain": "1", "shared": "1"}},
	}
	for _, tt := range tests {
		st, err := Plugin().Open(storage.Config{ID: "s1", Props: tt.props}, storage.Env{Runner: &runner.Recorder{}})
		checkErr(t, err, tt.err)
		if tt.err == "" {
			s := st.(*Storage)
			if s.Base() != "iscsi1:0.0.1.scsi-36001405" || s.VG() != "pve" || !s.saferemove || s.stepsize != 8<<20 || s.throughput != "1048576" || !s.taggedOnly || !s.chain {
				t.Errorf("options not read: %+v", s)
			}
		}
	}
	if _, err := Plugin().Open(storage.Config{ID: "s1", Props: map[string]string{"vgname": "pve"}}, storage.Env{}); err == nil {
		t.Error("opened without a runner")
	}
}

// plan is one command-plan test: the answers the tools give, the
// operation, and the exact command lines it must run.
type plan struct {
	name  string
	props map[string]string
	setup func(r *runner.Recorder)
	run   func(s *Storage) error
	want  []string
	err   string
}

func runPlans(t *testing.T, plans []plan) {
	t.Helper()
	for _, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			s, r := newTest(t, p.props)
			if p.setup != nil {
				p.setup(r)
			}
			err := p.run(s)
			checkErr(t, err, p.err)
			checkLines(t, r, p.want)
		})
	}
}

var ctx = context.Background()

func TestActivateStatus(t *testing.T) {
	var st storage.Status
	runPlans(t, []plan{
		{
			name:  "activate present group",
			setup: func(r *runner.Recorder) { r.On(vgsCmd, fixture(t, "vgs.txt")) },
			run:   func(s *Storage) error { return s.Activate(ctx) },
			want:  []string{vgsCmd},
		},
		{
			name: "activate rescans once",
			setup: func(r *runner.Recorder) {
				r.On(vgsCmd, "  emptyvg:62914560:62914560:0\n").On("vgscan --ignorelockingfailure --mknodes", "")
			},
			run:  func(s *Storage) error { return s.Activate(ctx) },
			want: []string{vgsCmd, "vgscan --ignorelockingfailure --mknodes", vgsCmd},
			err:  `storage vmdata: activate: volume group "hearthcap" not found`,
		},
		{
			name:  "deactivate",
			setup: func(r *runner.Recorder) { r.On("vgchange -aln hearthcap", "") },
			run:   func(s *Storage) error { return s.Deactivate(ctx) },
			want:  []string{"vgchange -aln hearthcap"},
		},
		{
			name:  "status",
			setup: func(r *runner.Recorder) { r.On(vgsCmd, fixture(t, "vgs.txt")) },
			run: func(s *Storage) (err error) {
				st, err = s.Status(ctx)
				if want := (storage.Status{Active: true, Total: 306184192, Avail: 226492416, Used: 306184192 - 226492416}); st != want {
					t.Errorf("status %+v, want %+v", st, want)
				}
				return err
			},
			want: []string{vgsCmd},
		},
		{
			name:  "status of a missing group",
			setup: func(r *runner.Recorder) { r.On(vgsCmd, "  emptyvg:62914560:62914560:0\n") },
			run: func(s *Storage) (err error) {
				st, err = s.Status(ctx)
				if st.Active {
					t.Errorf("missing group reported active: %+v", st)
				}
				return err
			},
			want: []string{vgsCmd},
		},
		{
			name: "status when vgs fails",
			setup: func(r *runner.Recorder) {
				r.Fail(vgsCmd, 5, "  connect() failed on local socket: No such file or directory\n")
			},
			run:  func(s *Storage) error { _, err := s.Status(ctx); return err },
			want: []string{vgsCmd},
			err:  "No such file or directory",
		},
	})
}

func TestList(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]string
		vmid    int
		content []storage.Content
		want    []string
		ct      storage.Content
	}{
		{name: "all", want: []string{"vm-100-disk-0", "vm-100-disk-1", "vm-101-disk-0"}, ct: storage.Images},
		{name: "one guest", vmid: 101, want: []string{"vm-101-disk-0"}, ct: storage.Images},
		{name: "tagged only", props: map[string]string{"tagged_only": "1"}, want: []string{"vm-100-disk-0", "vm-100-disk-1"}, ct: storage.Images},
		{name: "rootdir", content: []storage.Content{storage.Rootdir}, want: []string{"vm-100-disk-0", "vm-100-disk-1", "vm-101-disk-0"}, ct: storage.Rootdir},
		{name: "images and rootdir", content: []storage.Content{storage.Rootdir, storage.Images}, vmid: 100, want: []string{"vm-100-disk-0", "vm-100-disk-1"}, ct: storage.Images},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := newTest(t, tt.props)
			r.On(lvsCmd, fixture(t, "lvs.txt"))
			vols, err := s.List(ctx, tt.vmid, tt.content)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, v := range vols {
				names = append(names, v.Volname)
				if v.Content != tt.ct || v.Format != "raw" {
					t.Errorf("%s: %+v", v.Volname, v)
				}
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("got %v, want %v", names, tt.want)
			}
			checkLines(t, r, []string{lvsCmd})
		})
	}
	s, r := newTest(t, nil)
	r.On(lvsCmd, fixture(t, "lvs.txt"))
	vols, _ := s.List(ctx, 100, nil)
	if want := (storage.Volume{Volname: "vm-100-disk-0", Content: storage.Images, Format: "raw", Size: 16777216, VMID: 100, CTime: 1700000000}); vols[0] != want {
		t.Errorf("volume %+v, want %+v", vols[0], want)
	}
	if vols, err := s.List(ctx, 0, []storage.Content{storage.ISO}); vols != nil || err != nil {
		t.Errorf("iso listing: %v %v", vols, err)
	}
	// chained qcow2 volumes of Proxmox VE 9 are listed with their format
	r2 := &runner.Recorder{}
	r2.On(lvsCmd, "  hearthcap:vm-100-disk-3.qcow2:8388608:-wi-a-----:::::u:pve-vm-100::1700000000\n  hearthcap:snap_vm-100-disk-3_s1.qcow2:8388608:-wi-a-----:::::u:pve-vm-100::1700000000\n")
	s.r = r2
	vols, err := s.List(ctx, 0, nil)
	if err != nil || len(vols) != 1 || vols[0].Format != "qcow2" {
		t.Errorf("qcow2 listing: %+v %v", vols, err)
	}
}

func TestAlloc(t *testing.T) {
	var got string
	alloc := func(vmid int, name, format string, size int64, want string) func(s *Storage) error {
		return func(s *Storage) (err error) {
			got, err = s.Alloc(ctx, vmid, name, format, size)
			if err == nil && got != want {
				t.Errorf("allocated %q, want %q", got, want)
			}
			return err
		}
	}
	ok := func(r *runner.Recorder) { r.On(vgsCmd, fixture(t, "vgs.txt")).On(lvsCmd, fixture(t, "lvs.txt")) }
	runPlans(t, []plan{
		{
			name: "next free name",
			setup: func(r *runner.Recorder) {
				ok(r)
				r.On("lvcreate -aly -Wy --yes --size 4096k --name vm-100-disk-2 --addtag pve-vm-100 hearthcap", "  Logical volume \"vm-100-disk-2\" created.\n")
			},
			run:  alloc(100, "", "", 4<<20, "vm-100-disk-2"),
			want: []string{vgsCmd, lvsCmd, "lvcreate -aly -Wy --yes --size 4096k --name vm-100-disk-2 --addtag pve-vm-100 hearthcap"},
		},
		{
			name: "size rounded up to KiB",
			setup: func(r *runner.Recorder) {
				ok(r)
				r.On("lvcreate -aly -Wy --yes --size 2k --name vm-105-disk-0 --addtag pve-vm-105 hearthcap", "")
			},
			run:  alloc(105, "", "raw", 1025, "vm-105-disk-0"),
			want: []string{vgsCmd, lvsCmd, "lvcreate -aly -Wy --yes --size 2k --name vm-105-disk-0 --addtag pve-vm-105 hearthcap"},
		},
		{
			name: "given name",
			setup: func(r *runner.Recorder) {
				ok(r)
				r.On("lvcreate -aly -Wy --yes --size 1024k --name vm-101-cloudinit --addtag pve-vm-101 hearthcap", "")
			},
			run:  alloc(101, "vm-101-cloudinit", "raw", 1<<20, "vm-101-cloudinit"),
			want: []string{vgsCmd, lvsCmd, "lvcreate -aly -Wy --yes --size 1024k --name vm-101-cloudinit --addtag pve-vm-101 hearthcap"},
		},
		{name: "existing name", setup: ok, run: alloc(100, "vm-100-disk-1", "raw", 1<<20, ""), want: []string{vgsCmd, lvsCmd}, err: "volume vm-100-disk-1 already exists"},
		{name: "another guest's name", run: alloc(100, "vm-101-disk-5", "raw", 1<<20, ""), err: "belongs to guest 101"},
		{name: "base name", run: alloc(100, "base-100-disk-5", "raw", 1<<20, ""), err: "illegal lvm volume name"},
		{name: "bad characters", run: alloc(100, "vm-100-disk+1", "raw", 1<<20, ""), err: "illegal lvm volume name"},
		{name: "path", run: alloc(100, "vm-100-../../x", "raw", 1<<20, ""), err: "illegal lvm volume name"},
		{name: "qcow2", run: alloc(100, "", "qcow2", 1<<20, ""), err: `unsupported format "qcow2"`},
		{name: "qcow2 chain", props: map[string]string{"snapshot-as-volume-chain": "1"}, run: alloc(100, "", "qcow2", 1<<20, ""), err: "not supported by Hearth"},
		{name: "subvol", run: alloc(100, "", "subvol", 1<<20, ""), err: `unsupported format "subvol"`},
		{name: "zero size", run: alloc(100, "", "raw", 0, ""), err: "invalid size"},
		{name: "no space", setup: ok, run: alloc(100, "", "raw", 1<<30, ""), want: []string{vgsCmd}, err: "not enough free space"},
		{name: "no group", setup: func(r *runner.Recorder) { r.On(vgsCmd, "  emptyvg:62914560:62914560:0\n") }, run: alloc(100, "", "raw", 1<<20, ""), want: []string{vgsCmd}, err: `no such volume group "hearthcap"`},
		{
			name: "lvcreate fails",
			setup: func(r *runner.Recorder) {
				ok(r)
				r.Fail("lvcreate -aly -Wy --yes --size 1024k --name vm-100-disk-2 --addtag pve-vm-100 hearthcap", 5, "  Volume group \"hearthcap\" has insufficient free space (1 extents): 2 required.\n")
			},
			run:  alloc(100, "", "raw", 1<<20, ""),
			want: []string{vgsCmd, lvsCmd, "lvcreate -aly -Wy --yes --size 1024k --name vm-100-disk-2 --addtag pve-vm-100 hearthcap"},
			err:  "storage vmdata: create volume hearthcap/vm-100-disk-2: command 'lvcreate",
		},
	})
}

func TestAllocRootdir(t *testing.T) {
	const create = "lvcreate -aly -Wy --yes --size 8192k --name vm-200-disk-0 --addtag pve-vm-200 hearthcap"
	const mkfs = "mkfs.ext4 -O mmp -E root_owner=100000:100000 /dev/hearthcap/vm-200-disk-0"
	run := func(s *Storage) error {
		name, err := s.AllocRootdir(ctx, 200, "", 8<<20, 100000, 100000)
		if err == nil && name != "vm-200-disk-0" {
			t.Errorf("allocated %q", name)
		}
		return err
	}
	ok := func(r *runner.Recorder) {
		r.On(vgsCmd, fixture(t, "vgs.txt")).On(lvsCmd, fixture(t, "lvs.txt")).On(create, "")
	}
	runPlans(t, []plan{
		{name: "ext4", setup: func(r *runner.Recorder) { ok(r); r.On(mkfs, "") }, run: run, want: []string{vgsCmd, lvsCmd, create, mkfs}},
		{
			name: "mkfs fails",
			setup: func(r *runner.Recorder) {
				ok(r)
				r.Fail(mkfs, 1, "mkfs.ext4: Device size reported to be zero.\n").On("lvremove -f hearthcap/vm-200-disk-0", "")
			},
			run:  run,
			want: []string{vgsCmd, lvsCmd, create, mkfs, "lvremove -f hearthcap/vm-200-disk-0"},
			err:  "Device size reported to be zero",
		},
	})
}

// wipeRoot makes /dev/<vg>/<lv> a link to /dev/dm-3 and gives dm-3 the
// write-zeroes limit max ("" for a device the kernel lists no limit for).
func wipeRoot(t *testing.T, lv, max string) string {
	root := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "dev/hearthcap"), 0o755))
	must(os.WriteFile(filepath.Join(root, "dev/dm-3"), nil, 0o644))
	must(os.Symlink("../dm-3", filepath.Join(root, "dev/hearthcap", lv)))
	q := filepath.Join(root, "sys/block/dm-3/queue")
	must(os.MkdirAll(q, 0o755))
	if max != "" {
		must(os.WriteFile(filepath.Join(q, "write_zeroes_max_bytes"), []byte(max+"\n"), 0o644))
	}
	return root
}

func TestFree(t *testing.T) {
	const (
		act     = "lvchange -aly hearthcap/vm-100-disk-0"
		refresh = "lvchange --refresh hearthcap/vm-100-disk-0"
		rename  = "lvrename hearthcap vm-100-disk-0 del-vm-100-disk-0"
		rmDel   = "lvremove -f hearthcap/del-vm-100-disk-0"
		discard = "blkdiscard --zeroout --step 33554432 /dev/hearthcap/del-vm-100-disk-0"
	)
	safe := map[string]string{"saferemove": "1"}
	free := func(root string) func(s *Storage) error {
		return func(s *Storage) error {
			if root != "" {
				s.root = root
			}
			return s.Free(ctx, "vm-100-disk-0")
		}
	}
	saferemove := func(r *runner.Recorder) { r.On(act, "").On(refresh, "").On(rename, "").On(rmDel, "") }
	runPlans(t, []plan{
		{
			name:  "plain",
			setup: func(r *runner.Recorder) { r.On(act, "").On(refresh, "").On("lvremove -f hearthcap/vm-100-disk-0", "") },
			run:   free(""),
			want:  []string{act, refresh, "lvremove -f hearthcap/vm-100-disk-0"},
		},
		{
			name:  "saferemove with blkdiscard",
			props: safe,
			setup: func(r *runner.Recorder) { saferemove(r); r.On(discard, "") },
			run:   free(wipeRoot(t, "del-vm-100-disk-0", "4294967296")),
			want:  []string{act, refresh, rename, discard, rmDel},
		},
		{
			name:  "saferemove step capped by the device",
			props: map[string]string{"saferemove": "1", "saferemove-stepsize": "16"},
			setup: func(r *runner.Recorder) {
				saferemove(r)
				r.On("blkdiscard --zeroout --step 8388608 /dev/hearthcap/del-vm-100-disk-0", "")
			},
			run:  free(wipeRoot(t, "del-vm-100-disk-0", "8388608")),
			want: []string{act, refresh, rename, "blkdiscard --zeroout --step 8388608 /dev/hearthcap/del-vm-100-disk-0", rmDel},
		},
		{
			name:  "saferemove with cstream",
			props: safe,
			setup: func(r *runner.Recorder) {
				saferemove(r)
				r.Fail("cstream -i /dev/zero -o /dev/hearthcap/del-vm-100-disk-0 -T 10 -v 1 -b 1048576 -t -10485760", 1, "cstream: write: No space left on device\n")
			},
			run:  free(wipeRoot(t, "del-vm-100-disk-0", "0")),
			want: []string{act, refresh, rename, "cstream -i /dev/zero -o /dev/hearthcap/del-vm-100-disk-0 -T 10 -v 1 -b 1048576 -t -10485760", rmDel},
		},
		{
			name:  "saferemove with cstream throughput",
			props: map[string]string{"saferemove": "1", "saferemove_throughput": "1048576"},
			setup: func(r *runner.Recorder) {
				saferemove(r)
				r.On("cstream -i /dev/zero -o /dev/hearthcap/del-vm-100-disk-0 -T 10 -v 1 -b 1048576 -t 1048576", "")
			},
			run:  free(wipeRoot(t, "del-vm-100-disk-0", "")),
			want: []string{act, refresh, rename, "cstream -i /dev/zero -o /dev/hearthcap/del-vm-100-disk-0 -T 10 -v 1 -b 1048576 -t 1048576", rmDel},
		},
		{
			name:  "saferemove of an inactive volume skips the wipe",
			props: safe,
			setup: saferemove,
			run:   free(t.TempDir()),
			want:  []string{act, refresh, rename, rmDel},
		},
		{
			name: "activation fails",
			setup: func(r *runner.Recorder) {
				r.Fail(act, 5, "  Failed to find logical volume \"hearthcap/vm-100-disk-0\"\n")
			},
			run:  free(""),
			want: []string{act},
			err:  `Failed to find logical volume "hearthcap/vm-100-disk-0"`,
		},
		{name: "bad name", run: func(s *Storage) error { return s.Free(ctx, "../vm-100-disk-0") }, err: "illegal lvm volume name"},
		{name: "not an lvm name", run: func(s *Storage) error { return s.Free(ctx, "snap_vm-100-disk-0_x") }, err: "illegal lvm volume name"},
	})
}

func TestResizeVolumeAttach(t *testing.T) {
	var a storage.Attachment
	runPlans(t, []plan{
		{
			name:  "resize",
			setup: func(r *runner.Recorder) { r.On("lvextend -L 2048M /dev/hearthcap/vm-100-disk-0", "") },
			run:   func(s *Storage) error { return s.Resize(ctx, "vm-100-disk-0", 2<<30) },
			want:  []string{"lvextend -L 2048M /dev/hearthcap/vm-100-disk-0"},
		},
		{
			name: "shrink refused by lvextend",
			setup: func(r *runner.Recorder) {
				r.Fail("lvextend -L 1M /dev/hearthcap/vm-100-disk-0", 5, "  New size given (1 extents) not larger than existing size (4 extents)\n")
			},
			run:  func(s *Storage) error { return s.Resize(ctx, "vm-100-disk-0", 1<<20) },
			want: []string{"lvextend -L 1M /dev/hearthcap/vm-100-disk-0"},
			err:  "storage vmdata: resize vm-100-disk-0: command 'lvextend -L 1M /dev/hearthcap/vm-100-disk-0' failed: exit code 5: New size given",
		},
		{
			name:  "volume",
			setup: func(r *runner.Recorder) { r.On(sizeCmd, fixture(t, "lvsize.txt")) },
			run: func(s *Storage) error {
				v, err := s.Volume(ctx, "vm-100-disk-0")
				if want := (storage.Volume{Volname: "vm-100-disk-0", Content: storage.Images, Format: "raw", Size: 16777216, VMID: 100}); v != want {
					t.Errorf("volume %+v", v)
				}
				return err
			},
			want: []string{sizeCmd},
		},
		{
			name: "volume missing",
			setup: func(r *runner.Recorder) {
				r.Fail(sizeCmd, 5, "  Failed to find logical volume \"hearthcap/vm-100-disk-0\"\n")
			},
			run:  func(s *Storage) error { _, err := s.Volume(ctx, "vm-100-disk-0"); return err },
			want: []string{sizeCmd},
			err:  "Failed to find logical volume",
		},
		{
			name: "attach",
			setup: func(r *runner.Recorder) {
				r.On("lvchange -aey /dev/hearthcap/vm-100-disk-0", "").On("lvchange --refresh /dev/hearthcap/vm-100-disk-0", "")
			},
			run: func(s *Storage) (err error) {
				a, err = s.Attach(ctx, "vm-100-disk-0", "")
				want := storage.Attachment{Path: "/dev/hearthcap/vm-100-disk-0", Format: "raw",
					Blockdev: map[string]any{"driver": "host_device", "filename": "/dev/hearthcap/vm-100-disk-0"},
					Mount:    &storage.Mount{Source: "/dev/hearthcap/vm-100-disk-0", FSType: "ext4"}}
				if !reflect.DeepEqual(a, want) {
					t.Errorf("attachment %+v", a)
				}
				return err
			},
			want: []string{"lvchange -aey /dev/hearthcap/vm-100-disk-0", "lvchange --refresh /dev/hearthcap/vm-100-disk-0"},
		},
		{name: "attach snapshot", run: func(s *Storage) error { _, err := s.Attach(ctx, "vm-100-disk-0", "snap1"); return err }, err: "no snapshots"},
		{name: "resize bad name", run: func(s *Storage) error { return s.Resize(ctx, "vm-100-disk-0/x", 1<<20) }, err: "illegal"},
	})
	for size, want := range map[int64]string{1 << 20: "1M", 3 << 30: "3072M", 1536 << 10: "1.5M", 1<<20 + 1024: "1.0009765625M"} {
		if got := ResizeArg(size); got != want {
			t.Errorf("ResizeArg(%d) = %s, want %s", size, got, want)
		}
	}
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
			name:  "to another guest",
			setup: func(r *runner.Recorder) { lvs(r); r.On("lvrename hearthcap vm-101-disk-0 vm-100-disk-2", "") },
			run:   rename("vm-101-disk-0", 100, "", "vm-100-disk-2"),
			want:  []string{lvsCmd, "lvrename hearthcap vm-101-disk-0 vm-100-disk-2"},
		},
		{
			name:  "given name",
			setup: func(r *runner.Recorder) { lvs(r); r.On("lvrename hearthcap vm-101-disk-0 vm-101-disk-7", "") },
			run:   rename("vm-101-disk-0", 101, "vm-101-disk-7", "vm-101-disk-7"),
			want:  []string{lvsCmd, "lvrename hearthcap vm-101-disk-0 vm-101-disk-7"},
		},
		{name: "target exists", setup: lvs, run: rename("vm-101-disk-0", 100, "vm-100-disk-0", ""), want: []string{lvsCmd}, err: "vm-100-disk-0 already exists"},
		{name: "source missing", setup: lvs, run: rename("vm-109-disk-0", 100, "", ""), want: []string{lvsCmd}, err: "no such volume"},
		{name: "target of another guest", run: rename("vm-101-disk-0", 100, "vm-102-disk-9", ""), err: "belongs to guest 102"},
	})
}

func TestExportImport(t *testing.T) {
	const (
		act     = "lvchange -aey /dev/hearthcap/vm-100-disk-0"
		refresh = "lvchange --refresh /dev/hearthcap/vm-100-disk-0"
		getsize = "blockdev --getsize64 /dev/hearthcap/vm-100-disk-0"
		ddIn    = "dd if=/dev/hearthcap/vm-100-disk-0 bs=64k status=progress"
		create  = "lvcreate -aly -Wy --yes --size 4096k --name vm-100-disk-2 --addtag pve-vm-100 hearthcap"
		ddOut   = "dd of=/dev/hearthcap/vm-100-disk-2 bs=64k"
	)
	s, r := newTest(t, nil)
	if f := s.ExportFormats(ctx, "vm-100-disk-0"); !reflect.DeepEqual(f, []string{"raw+size"}) {
		t.Errorf("export formats %v", f)
	}
	r.On(act, "").On(refresh, "").On(getsize, "16777216\n").On(ddIn, "DISKDATA")
	var out bytes.Buffer
	if err := s.Export(ctx, "vm-100-disk-0", "raw+size", "", &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 16 || binary.LittleEndian.Uint64(out.Bytes()) != 16777216 || out.String()[8:] != "DISKDATA" {
		t.Errorf("stream %q", out.Bytes())
	}
	checkLines(t, r, []string{act, refresh, getsize, ddIn})
	for _, bad := range []struct{ format, snap string }{{"qcow2+size", ""}, {"raw+size", "s1"}} {
		if err := s.Export(ctx, "vm-100-disk-0", bad.format, bad.snap, &out); err == nil {
			t.Errorf("export %v accepted", bad)
		}
	}

	stream := func(size uint64, data string) *bytes.Reader {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, size)
		b.WriteString(data)
		return bytes.NewReader(b.Bytes())
	}
	var got []byte
	s, r = newTest(t, nil)
	r.On(vgsCmd, fixture(t, "vgs.txt")).On(lvsCmd, fixture(t, "lvs.txt")).On(create, "").Capture(ddOut, "", &got)
	name, err := s.Import(ctx, stream(4<<20, "PAYLOAD"), 100, "", "raw+size")
	if err != nil || name != "vm-100-disk-2" || string(got) != "PAYLOAD" {
		t.Fatalf("import: %q %v, wrote %q", name, err, got)
	}
	checkLines(t, r, []string{vgsCmd, lvsCmd, create, ddOut})

	// a failed write frees the new volume
	s, r = newTest(t, nil)
	r.On(vgsCmd, fixture(t, "vgs.txt")).On(lvsCmd, fixture(t, "lvs.txt")).On(create, "").
		Fail(ddOut, 1, "dd: error writing '/dev/hearthcap/vm-100-disk-2': No space left on device\n").
		On("lvchange -aly hearthcap/vm-100-disk-2", "").On("lvchange --refresh hearthcap/vm-100-disk-2", "").On("lvremove -f hearthcap/vm-100-disk-2", "")
	_, err = s.Import(ctx, stream(4<<20, "PAYLOAD"), 100, "", "raw+size")
	checkErr(t, err, "No space left on device")
	checkLines(t, r, []string{vgsCmd, lvsCmd, create, ddOut, "lvchange -aly hearthcap/vm-100-disk-2", "lvchange --refresh hearthcap/vm-100-disk-2", "lvremove -f hearthcap/vm-100-disk-2"})

	for _, tt := range []struct {
		stream       *bytes.Reader
		name, format string
		err          string
	}{
		{stream(1, ""), "", "zfs", "unsupported import format"},
		{bytes.NewReader([]byte{1, 2}), "", "raw+size", "size header"},
		{stream(0, ""), "", "raw+size", "invalid size"},
		{stream(1<<20, ""), "vm-101-disk-0", "raw+size", "belongs to guest 101"},
	} {
		s, _ := newTest(t, nil)
		_, err := s.Import(ctx, tt.stream, 100, tt.name, tt.format)
		checkErr(t, err, tt.err)
	}
}
