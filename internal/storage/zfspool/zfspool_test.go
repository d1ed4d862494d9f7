package zfspool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

const listCmd = "zfs list -o name,volsize,origin,type,refquota -t volume,filesystem -d1 -Hp tank/vmdata"

var ctx = context.Background()

// newTest opens a zfspool storage on tank/vmdata; waited records the
// device nodes the storage waited for, and the wait fails for paths in
// missing.
func newTest(t *testing.T, props map[string]string, missing ...string) (*Storage, *runner.Recorder, *[]string) {
	t.Helper()
	r := &runner.Recorder{}
	p := map[string]string{"pool": "tank/vmdata"}
	for k, v := range props {
		p[k] = v
	}
	st, err := Plugin().Open(storage.Config{ID: "local-zfs", Type: "zfspool", Props: p}, storage.Env{Node: "pve1", Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Storage)
	var waited []string
	s.waitDev = func(_ context.Context, path string) error {
		waited = append(waited, path)
		for _, m := range missing {
			if m == path {
				return errors.New("no device " + path + " appeared within 1m0s")
			}
		}
		return nil
	}
	s.busyDelay = 0
	return s, r, &waited
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
	name    string
	props   map[string]string
	missing []string
	setup   func(r *runner.Recorder)
	run     func(s *Storage) error
	want    []string
	err     string
	waited  []string
}

func runPlans(t *testing.T, plans []plan) {
	t.Helper()
	for _, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			s, r, waited := newTest(t, p.props, p.missing...)
			if p.setup != nil {
				p.setup(r)
			}
			checkErr(t, p.run(s), p.err)
			checkLines(t, r, p.want)
			if p.waited != nil && (len(*waited) != 0 || len(p.waited) != 0) && !reflect.DeepEqual(*waited, p.waited) {
				t.Errorf("waited for %v, want %v", *waited, p.waited)
			}
		})
	}
}

// sequence answers successive runs of one command line with successive
// results; every run is still recorded by the Recorder.
type sequence struct {
	*runner.Recorder
	line string
	errs []error
	n    int
}

func (q *sequence) Run(ctx context.Context, c runner.Cmd) (runner.Result, error) {
	res, err := q.Recorder.Run(ctx, c)
	if c.String() == q.line && q.n < len(q.errs) {
		err = q.errs[q.n]
		q.n++
	}
	return res, err
}

func TestInfoOpen(t *testing.T) {
	info := Plugin().Info()
	var keys []string
	for k := range info.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"blocksize", "bwlimit", "content", "disable", "mountpoint", "nodes", "pool", "sparse"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("options %v", keys)
	}
	if o := info.Options["pool"]; !o.Required || !o.Fixed {
		t.Errorf("pool: %+v", o)
	}
	if Plugin().Type() != "zfspool" || info.Shared || !info.LinkedClones || !reflect.DeepEqual(info.Formats, []string{"raw", "subvol"}) ||
		!reflect.DeepEqual(info.Snapshots, []string{"raw", "subvol"}) {
		t.Errorf("info %+v", info)
	}
	for _, tt := range []struct {
		props map[string]string
		err   string
	}{
		{map[string]string{}, "pool is required"},
		{map[string]string{"pool": "tank/../x"}, "invalid zfs pool"},
		{map[string]string{"pool": "tank", "blocksize": "8 k"}, "blocksize"},
		{map[string]string{"pool": "tank", "sparse": "sure"}, "not a boolean"},
		{map[string]string{"pool": "tank", "mountpoint": "relative"}, "mountpoint"},
		{map[string]string{"pool": "tank", "mountpoint": "/a/../b"}, "mountpoint"},
		{map[string]string{"pool": "tank", "mountpoint": "/tank/", "blocksize": "16k", "sparse": "1"}, ""},
	} {
		_, err := Plugin().Open(storage.Config{ID: "z", Props: tt.props}, storage.Env{Runner: &runner.Recorder{}})
		checkErr(t, err, tt.err)
	}
}

func TestActivateStatusList(t *testing.T) {
	const (
		zlist  = "zpool list -o name -H tank"
		zimp   = "zpool import -d /dev/disk/by-id/ -o cachefile=none tank"
		status = "zfs get -o value -Hp available,used tank/vmdata"
	)
	runPlans(t, []plan{
		{name: "imported", setup: func(r *runner.Recorder) { r.On(zlist, fixture(t, "zpool_list.txt")) }, run: func(s *Storage) error { return s.Activate(ctx) }, want: []string{zlist}},
		{
			name:  "import",
			setup: func(r *runner.Recorder) { r.Fail(zlist, 1, "cannot open 'tank': no such pool\n").On(zimp, "") },
			run:   func(s *Storage) error { return s.Activate(ctx) },
			want:  []string{zlist, zimp},
		},
		{
			name: "import fails",
			setup: func(r *runner.Recorder) {
				r.Fail(zlist, 1, "cannot open 'tank': no such pool\n").Fail(zimp, 1, "cannot import 'tank': no such pool available\n")
			},
			run:  func(s *Storage) error { return s.Activate(ctx) },
			want: []string{zlist, zimp, zlist},
			err:  "storage local-zfs: import pool tank: command 'zpool import -d /dev/disk/by-id/ -o cachefile=none tank' failed: exit code 1: cannot import 'tank': no such pool available",
		},
		{
			name: "status",
			setup: func(r *runner.Recorder) {
				r.On(status, fixture(t, "status.txt"))
			},
			run: func(s *Storage) error {
				st, err := s.Status(ctx)
				if st.Total != 1759218604441+214748364800 || !st.Active {
					t.Errorf("status %+v", st)
				}
				return err
			},
			want: []string{status},
		},
		{
			name:  "status of a missing pool",
			setup: func(r *runner.Recorder) { r.Fail(status, 1, "cannot open 'tank/vmdata': dataset does not exist\n") },
			run: func(s *Storage) error {
				st, err := s.Status(ctx)
				if st.Active {
					t.Errorf("status %+v", st)
				}
				return err
			},
			want: []string{status},
		},
		{
			name:  "list",
			setup: func(r *runner.Recorder) { r.On(listCmd, fixture(t, "list.txt")) },
			run: func(s *Storage) error {
				v, err := s.List(ctx, 100, []storage.Content{storage.Images})
				if len(v) != 2 || v[0].Volname != "base-100-disk-0" || v[1].Volname != "vm-100-disk-1" {
					t.Errorf("list %+v", v)
				}
				return err
			},
			want: []string{listCmd},
		},
		{
			name:  "detect mountpoint",
			setup: func(r *runner.Recorder) { r.On("zfs get -o value -Hp mountpoint tank/vmdata", "/tank/vmdata\n") },
			run: func(s *Storage) error {
				m, err := s.DetectMountpoint(ctx)
				if m != "/tank/vmdata" {
					t.Errorf("mountpoint %q", m)
				}
				return err
			},
			want: []string{"zfs get -o value -Hp mountpoint tank/vmdata"},
		},
		{
			name:  "legacy mountpoint",
			setup: func(r *runner.Recorder) { r.On("zfs get -o value -Hp mountpoint tank/vmdata", "legacy\n") },
			run:   func(s *Storage) error { _, err := s.DetectMountpoint(ctx); return err },
			want:  []string{"zfs get -o value -Hp mountpoint tank/vmdata"},
			err:   "no mountpoint",
		},
	})
}

func TestAlloc(t *testing.T) {
	alloc := func(vmid int, name, format string, size int64, want string) func(s *Storage) error {
		return func(s *Storage) error {
			got, err := s.Alloc(ctx, vmid, name, format, size)
			if err == nil && got != want {
				t.Errorf("allocated %q, want %q", got, want)
			}
			return err
		}
	}
	list := func(r *runner.Recorder) { r.On(listCmd, fixture(t, "list.txt")) }
	const sparse = "zfs create -s -b 16k -V 4194304k tank/vmdata/vm-100-disk-2"
	opts := map[string]string{"sparse": "1", "blocksize": "16k"}
	runPlans(t, []plan{
		{
			name: "zvol", props: opts,
			setup:  func(r *runner.Recorder) { list(r); r.On(sparse, "") },
			run:    alloc(100, "", "raw", 4<<30, "vm-100-disk-2"),
			want:   []string{listCmd, sparse},
			waited: []string{"/dev/zvol/tank/vmdata/vm-100-disk-2"},
		},
		{
			name:  "zvol rounded up to MiB",
			setup: func(r *runner.Recorder) { list(r); r.On("zfs create -V 2048k tank/vmdata/vm-200-cloudinit", "") },
			run:   alloc(200, "vm-200-cloudinit", "", 1<<20+512, "vm-200-cloudinit"),
			want:  []string{listCmd, "zfs create -V 2048k tank/vmdata/vm-200-cloudinit"},
		},
		{
			name: "subvolume",
			setup: func(r *runner.Recorder) {
				list(r)
				r.On("zfs create -o acltype=posixacl -o xattr=sa -o refquota=8388608k tank/vmdata/subvol-101-disk-1", "")
			},
			run:  alloc(101, "", "subvol", 8<<30, "subvol-101-disk-1"),
			want: []string{listCmd, "zfs create -o acltype=posixacl -o xattr=sa -o refquota=8388608k tank/vmdata/subvol-101-disk-1"},
		},
		{
			name: "unlimited subvolume",
			setup: func(r *runner.Recorder) {
				list(r)
				r.On("zfs create -o acltype=posixacl -o xattr=sa -o refquota=none tank/vmdata/subvol-300-disk-0", "")
			},
			run:  alloc(300, "", "subvol", 0, "subvol-300-disk-0"),
			want: []string{listCmd, "zfs create -o acltype=posixacl -o xattr=sa -o refquota=none tank/vmdata/subvol-300-disk-0"},
		},
		{name: "existing", setup: list, run: alloc(100, "vm-100-disk-1", "raw", 1<<20, ""), want: []string{listCmd}, err: "vm-100-disk-1 already exists"},
		{name: "subvol name for a zvol", run: alloc(100, "subvol-100-disk-5", "raw", 1<<20, ""), err: "a new raw volume is named vm-100-<name>"},
		{name: "base name", run: alloc(100, "base-100-disk-5", "raw", 1<<20, ""), err: "a new raw volume is named"},
		{name: "another guest", run: alloc(100, "vm-101-disk-5", "raw", 1<<20, ""), err: "belongs to guest 101"},
		{name: "clone name", run: alloc(101, "base-100-disk-0/vm-101-disk-5", "raw", 1<<20, ""), err: "a new raw volume is named"},
		{name: "qcow2", run: alloc(100, "", "qcow2", 1<<20, ""), err: `unsupported format "qcow2"`},
		{name: "empty zvol", run: alloc(100, "", "raw", 0, ""), err: "invalid size"},
		{
			name: "create fails", props: opts,
			setup: func(r *runner.Recorder) {
				list(r)
				r.Fail(sparse, 1, "cannot create 'tank/vmdata/vm-100-disk-2': out of space\n")
			},
			run:  alloc(100, "", "raw", 4<<30, ""),
			want: []string{listCmd, sparse},
			err:  "out of space",
		},
		{
			name: "device never appears", props: opts, missing: []string{"/dev/zvol/tank/vmdata/vm-100-disk-2"},
			setup: func(r *runner.Recorder) { list(r); r.On(sparse, "").On("zfs destroy -r tank/vmdata/vm-100-disk-2", "") },
			run:   alloc(100, "", "raw", 4<<30, ""),
			want:  []string{listCmd, sparse, "zfs destroy -r tank/vmdata/vm-100-disk-2"},
			err:   "no device /dev/zvol/tank/vmdata/vm-100-disk-2 appeared",
		},
	})
}

func TestFreeResizeVolume(t *testing.T) {
	const destroy = "zfs destroy -r tank/vmdata/vm-102-disk-0"
	busy := &runner.ExitError{Cmd: destroy, Code: 1, Stderr: "cannot destroy 'tank/vmdata/vm-102-disk-0': dataset is busy\n"}
	runPlans(t, []plan{
		{name: "free clone", setup: func(r *runner.Recorder) { r.On(destroy, "") }, run: func(s *Storage) error { return s.Free(ctx, "base-100-disk-0/vm-102-disk-0") }, want: []string{destroy}},
		{
			name: "free missing",
			setup: func(r *runner.Recorder) {
				r.Fail(destroy, 1, "cannot open 'tank/vmdata/vm-102-disk-0': dataset does not exist\n")
			},
			run:  func(s *Storage) error { return s.Free(ctx, "vm-102-disk-0") },
			want: []string{destroy},
		},
		{
			name:  "free busy then done",
			setup: func(r *runner.Recorder) { r.On(destroy, "") },
			run: func(s *Storage) error {
				s.r = &sequence{Recorder: s.r.(*runner.Recorder), line: destroy, errs: []error{busy, busy, nil}}
				return s.Free(ctx, "vm-102-disk-0")
			},
			want: []string{destroy, destroy, destroy},
		},
		{
			name:  "free always busy",
			setup: func(r *runner.Recorder) { r.Fail(destroy, 1, busy.Stderr) },
			run:   func(s *Storage) error { return s.Free(ctx, "vm-102-disk-0") },
			want:  []string{destroy, destroy, destroy, destroy, destroy, destroy},
			err:   "dataset is busy",
		},
		{
			name: "free base with clones",
			setup: func(r *runner.Recorder) {
				r.Fail("zfs destroy -r tank/vmdata/base-100-disk-0", 1, "cannot destroy 'tank/vmdata/base-100-disk-0': filesystem has dependent clones\nuse '-R' to destroy the following datasets:\ntank/vmdata/vm-102-disk-0\n")
			},
			run:  func(s *Storage) error { return s.Free(ctx, "base-100-disk-0") },
			want: []string{"zfs destroy -r tank/vmdata/base-100-disk-0"},
			err:  "dependent clones",
		},
		{name: "free bad name", run: func(s *Storage) error { return s.Free(ctx, "vm-100-disk-0@snap") }, err: "illegal zfs volume name"},
		{
			name:  "resize zvol",
			setup: func(r *runner.Recorder) { r.On("zfs set volsize=5243904k tank/vmdata/vm-100-disk-1", "") },
			run:   func(s *Storage) error { return s.Resize(ctx, "vm-100-disk-1", 5<<30+512<<10) },
			want:  []string{"zfs set volsize=5243904k tank/vmdata/vm-100-disk-1"},
		},
		{
			name:  "resize subvolume",
			setup: func(r *runner.Recorder) { r.On("zfs set refquota=9437184k tank/vmdata/subvol-104-disk-0", "") },
			run:   func(s *Storage) error { return s.Resize(ctx, "subvol-104-disk-0", 9<<30) },
			want:  []string{"zfs set refquota=9437184k tank/vmdata/subvol-104-disk-0"},
		},
		{
			name: "volume",
			setup: func(r *runner.Recorder) {
				r.On("zfs get -o value -Hp volsize,usedbydataset tank/vmdata/vm-100-disk-1", fixture(t, "volsize.txt"))
			},
			run: func(s *Storage) error {
				v, err := s.Volume(ctx, "vm-100-disk-1")
				if want := (storage.Volume{Volname: "vm-100-disk-1", Content: storage.Images, Format: "raw", Size: 4194304, Used: 1654784, VMID: 100}); v != want {
					t.Errorf("volume %+v", v)
				}
				return err
			},
			want: []string{"zfs get -o value -Hp volsize,usedbydataset tank/vmdata/vm-100-disk-1"},
		},
		{
			name: "clone subvolume",
			setup: func(r *runner.Recorder) {
				r.On("zfs get -o value -Hp refquota,usedbydataset tank/vmdata/subvol-102-disk-0", "8589934592\n123\n")
			},
			run: func(s *Storage) error {
				v, err := s.Volume(ctx, "basevol-101-disk-0/subvol-102-disk-0")
				if v.Parent != "basevol-101-disk-0" || v.Size != 8589934592 || v.Content != storage.Rootdir || v.Format != "subvol" {
					t.Errorf("volume %+v", v)
				}
				return err
			},
			want: []string{"zfs get -o value -Hp refquota,usedbydataset tank/vmdata/subvol-102-disk-0"},
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
	const (
		mounted = "zfs get -o value -Hp mounted,mountpoint tank/vmdata/subvol-104-disk-0"
		mount   = "zfs mount tank/vmdata/subvol-104-disk-0"
		zv      = "/dev/zvol/tank/vmdata/vm-102-disk-0"
	)
	runPlans(t, []plan{
		{
			name:   "zvol",
			run:    attach("base-100-disk-0/vm-102-disk-0", "", storage.Attachment{Path: zv, Format: "raw", Blockdev: map[string]any{"driver": "host_device", "filename": zv}}),
			waited: []string{zv},
		},
		{
			name:   "zvol snapshot",
			run:    attach("vm-102-disk-0", "snap1", storage.Attachment{Path: zv + "@snap1", Format: "raw", Blockdev: map[string]any{"driver": "host_device", "filename": zv + "@snap1", "read-only": true}}),
			waited: []string{},
		},
		{name: "zvol missing", missing: []string{zv}, run: attach("vm-102-disk-0", "", storage.Attachment{}), err: "no device"},
		{
			name:  "subvolume gets mounted",
			setup: func(r *runner.Recorder) { r.On(mounted, fixture(t, "mounted.txt")).On(mount, "") },
			run: attach("subvol-104-disk-0", "", storage.Attachment{Path: "/tank/vmdata/subvol-104-disk-0", Format: "subvol",
				Mount: &storage.Mount{Source: "/tank/vmdata/subvol-104-disk-0", Bind: true}}),
			want: []string{mounted, mount},
		},
		{
			name:  "subvolume below the mountpoint option",
			props: map[string]string{"mountpoint": "/mnt/vmdata"},
			setup: func(r *runner.Recorder) { r.On(mounted, "yes\n/tank/vmdata/subvol-104-disk-0\n") },
			run: attach("subvol-104-disk-0", "", storage.Attachment{Path: "/mnt/vmdata/subvol-104-disk-0", Format: "subvol",
				Mount: &storage.Mount{Source: "/mnt/vmdata/subvol-104-disk-0", Bind: true}}),
			want: []string{mounted},
		},
		{
			name:  "subvolume snapshot",
			setup: func(r *runner.Recorder) { r.On(mounted, fixture(t, "mounted.txt")) },
			run: attach("subvol-104-disk-0", "vzdump", storage.Attachment{Path: "/tank/vmdata/subvol-104-disk-0/.zfs/snapshot/vzdump", Format: "subvol",
				Mount: &storage.Mount{Source: "tank/vmdata/subvol-104-disk-0@vzdump", FSType: "zfs", Options: []string{"ro"}}}),
			want: []string{mounted},
		},
		{
			name:  "legacy mountpoint",
			setup: func(r *runner.Recorder) { r.On(mounted, "no\nlegacy\n") },
			run:   attach("subvol-104-disk-0", "", storage.Attachment{}),
			want:  []string{mounted},
			err:   "has no mountpoint (legacy)",
		},
		{name: "bad snapshot", run: attach("vm-102-disk-0", "x@y", storage.Attachment{}), err: "illegal snapshot name"},
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
	const notFound = "cannot open 'tank/vmdata/x': dataset does not exist\n"
	runPlans(t, []plan{
		{
			name: "linked clone to another guest",
			setup: func(r *runner.Recorder) {
				r.On(listCmd, fixture(t, "list.txt")).Fail("zfs get -H name tank/vmdata/vm-200-disk-0", 1, notFound).
					On("zfs rename tank/vmdata/vm-102-disk-0 tank/vmdata/vm-200-disk-0", "")
			},
			run:  rename("base-100-disk-0/vm-102-disk-0", 200, "", "base-100-disk-0/vm-200-disk-0"),
			want: []string{listCmd, "zfs get -H name tank/vmdata/vm-200-disk-0", "zfs rename tank/vmdata/vm-102-disk-0 tank/vmdata/vm-200-disk-0"},
		},
		{
			name: "subvolume with a given name",
			setup: func(r *runner.Recorder) {
				r.Fail("zfs get -H name tank/vmdata/subvol-105-disk-3", 1, notFound).On("zfs rename tank/vmdata/subvol-104-disk-0 tank/vmdata/subvol-105-disk-3", "")
			},
			run:  rename("subvol-104-disk-0", 105, "subvol-105-disk-3", "subvol-105-disk-3"),
			want: []string{"zfs get -H name tank/vmdata/subvol-105-disk-3", "zfs rename tank/vmdata/subvol-104-disk-0 tank/vmdata/subvol-105-disk-3"},
		},
		{
			name: "target exists",
			setup: func(r *runner.Recorder) {
				r.On("zfs get -H name tank/vmdata/vm-100-disk-1", "tank/vmdata/vm-100-disk-1\tname\ttank/vmdata/vm-100-disk-1\t-\n")
			},
			run:  rename("vm-103-disk-0", 100, "vm-100-disk-1", ""),
			want: []string{"zfs get -H name tank/vmdata/vm-100-disk-1"},
			err:  "vm-100-disk-1 already exists",
		},
		{name: "zvol to a subvol name", run: rename("vm-103-disk-0", 100, "subvol-100-disk-9", ""), err: "a new raw volume is named vm-100-"},
		{name: "base", run: rename("base-100-disk-0", 101, "", ""), err: "cannot be renamed"},
	})
}

func TestSnapshots(t *testing.T) {
	const (
		snaps = "zfs list -H -r -t snapshot -o name -s creation tank/vmdata/vm-100-disk-1"
		sub   = "zfs list -H -r -t snapshot -o name -s creation tank/vmdata/subvol-104-disk-0"
	)
	runPlans(t, []plan{
		{
			name:  "snapshot",
			setup: func(r *runner.Recorder) { r.On("zfs snapshot tank/vmdata/vm-100-disk-1@snap3", "") },
			run:   func(s *Storage) error { return s.Snapshot(ctx, "vm-100-disk-1", "snap3") },
			want:  []string{"zfs snapshot tank/vmdata/vm-100-disk-1@snap3"},
		},
		{
			name: "snapshot exists",
			setup: func(r *runner.Recorder) {
				r.Fail("zfs snapshot tank/vmdata/vm-100-disk-1@snap2", 1, "cannot create snapshot 'tank/vmdata/vm-100-disk-1@snap2': dataset already exists\n")
			},
			run:  func(s *Storage) error { return s.Snapshot(ctx, "vm-100-disk-1", "snap2") },
			want: []string{"zfs snapshot tank/vmdata/vm-100-disk-1@snap2"},
			err:  "dataset already exists",
		},
		{
			name: "rollback",
			setup: func(r *runner.Recorder) {
				r.On(snaps, fixture(t, "snapshots.txt")).On("zfs rollback tank/vmdata/vm-100-disk-1@snap2", "")
			},
			run:  func(s *Storage) error { return s.Rollback(ctx, "vm-100-disk-1", "snap2") },
			want: []string{snaps, "zfs rollback tank/vmdata/vm-100-disk-1@snap2"},
		},
		{
			name:  "rollback over newer snapshots",
			setup: func(r *runner.Recorder) { r.On(snaps, fixture(t, "snapshots.txt")) },
			run:   func(s *Storage) error { return s.Rollback(ctx, "vm-100-disk-1", "snap1") },
			want:  []string{snaps},
			err:   `snapshot "snap1" is not the most recent one (newer: before-upgrade, snap2)`,
		},
		{
			name: "rollback subvolume unmounts it",
			setup: func(r *runner.Recorder) {
				r.On(sub, "tank/vmdata/subvol-104-disk-0@vzdump\n").On("zfs rollback tank/vmdata/subvol-104-disk-0@vzdump", "").
					Fail("zfs unmount tank/vmdata/subvol-104-disk-0", 1, "cannot unmount 'tank/vmdata/subvol-104-disk-0': not currently mounted\n")
			},
			run:  func(s *Storage) error { return s.Rollback(ctx, "subvol-104-disk-0", "vzdump") },
			want: []string{sub, "zfs rollback tank/vmdata/subvol-104-disk-0@vzdump", "zfs unmount tank/vmdata/subvol-104-disk-0"},
		},
		{
			name: "rollback subvolume busy",
			setup: func(r *runner.Recorder) {
				r.On(sub, "tank/vmdata/subvol-104-disk-0@vzdump\n").On("zfs rollback tank/vmdata/subvol-104-disk-0@vzdump", "").
					Fail("zfs unmount tank/vmdata/subvol-104-disk-0", 1, "cannot unmount '/tank/vmdata/subvol-104-disk-0': pool or dataset is busy\n")
			},
			run:  func(s *Storage) error { return s.Rollback(ctx, "subvol-104-disk-0", "vzdump") },
			want: []string{sub, "zfs rollback tank/vmdata/subvol-104-disk-0@vzdump", "zfs unmount tank/vmdata/subvol-104-disk-0"},
			err:  "busy",
		},
		{
			name:  "delete snapshot",
			setup: func(r *runner.Recorder) { r.On("zfs destroy tank/vmdata/vm-100-disk-1@snap1", "") },
			run:   func(s *Storage) error { return s.DeleteSnapshot(ctx, "vm-100-disk-1", "snap1") },
			want:  []string{"zfs destroy tank/vmdata/vm-100-disk-1@snap1"},
		},
		{name: "delete option-like snapshot", run: func(s *Storage) error { return s.DeleteSnapshot(ctx, "vm-100-disk-1", "-r") }, err: "illegal snapshot name"},
	})
}

func TestBaseAndClone(t *testing.T) {
	base := func(vol, want string) func(s *Storage) error {
		return func(s *Storage) error {
			got, err := s.CreateBase(ctx, vol)
			if err == nil && got != want {
				t.Errorf("base %q, want %q", got, want)
			}
			return err
		}
	}
	clone := func(vol string, vmid int, snap, want string) func(s *Storage) error {
		return func(s *Storage) error {
			got, err := s.Clone(ctx, vol, vmid, snap)
			if err == nil && got != want {
				t.Errorf("clone %q, want %q", got, want)
			}
			return err
		}
	}
	list := func(r *runner.Recorder) { r.On(listCmd, fixture(t, "list.txt")) }
	runPlans(t, []plan{
		{
			name: "zvol base",
			setup: func(r *runner.Recorder) {
				r.On("zfs rename tank/vmdata/vm-103-disk-0 tank/vmdata/base-103-disk-0", "").On("zfs snapshot tank/vmdata/base-103-disk-0@__base__", "")
			},
			run:  base("vm-103-disk-0", "base-103-disk-0"),
			want: []string{"zfs rename tank/vmdata/vm-103-disk-0 tank/vmdata/base-103-disk-0", "zfs snapshot tank/vmdata/base-103-disk-0@__base__"},
		},
		{
			name: "base of a linked clone",
			setup: func(r *runner.Recorder) {
				r.On("zfs rename tank/vmdata/vm-102-disk-0 tank/vmdata/base-102-disk-0", "").On("zfs snapshot tank/vmdata/base-102-disk-0@__base__", "")
			},
			run:  base("base-100-disk-0/vm-102-disk-0", "base-100-disk-0/base-102-disk-0"),
			want: []string{"zfs rename tank/vmdata/vm-102-disk-0 tank/vmdata/base-102-disk-0", "zfs snapshot tank/vmdata/base-102-disk-0@__base__"},
		},
		{
			name: "subvolume base renamed back when the snapshot fails",
			setup: func(r *runner.Recorder) {
				r.On("zfs rename tank/vmdata/subvol-104-disk-0 tank/vmdata/basevol-104-disk-0", "").
					Fail("zfs snapshot tank/vmdata/basevol-104-disk-0@__base__", 1, "cannot create snapshot: out of space\n").
					On("zfs rename tank/vmdata/basevol-104-disk-0 tank/vmdata/subvol-104-disk-0", "")
			},
			run: base("subvol-104-disk-0", ""),
			want: []string{"zfs rename tank/vmdata/subvol-104-disk-0 tank/vmdata/basevol-104-disk-0", "zfs snapshot tank/vmdata/basevol-104-disk-0@__base__",
				"zfs rename tank/vmdata/basevol-104-disk-0 tank/vmdata/subvol-104-disk-0"},
			err: "out of space",
		},
		{name: "base of a base", run: base("base-100-disk-0", ""), err: "already a base"},
		{
			name: "linked clone",
			setup: func(r *runner.Recorder) {
				list(r)
				r.On("zfs clone tank/vmdata/base-100-disk-0@__base__ tank/vmdata/vm-106-disk-0", "")
			},
			run:  clone("base-100-disk-0", 106, "", "base-100-disk-0/vm-106-disk-0"),
			want: []string{listCmd, "zfs clone tank/vmdata/base-100-disk-0@__base__ tank/vmdata/vm-106-disk-0"},
		},
		{
			name: "subvolume clone keeps the quota",
			setup: func(r *runner.Recorder) {
				list(r)
				r.On("zfs list -Hp -o refquota tank/vmdata/basevol-101-disk-0", "8589934592\n").
					On("zfs clone tank/vmdata/basevol-101-disk-0@__base__ tank/vmdata/subvol-102-disk-1 -o refquota=8589934592", "")
			},
			run: clone("basevol-101-disk-0", 102, "", "basevol-101-disk-0/subvol-102-disk-1"),
			want: []string{listCmd, "zfs list -Hp -o refquota tank/vmdata/basevol-101-disk-0",
				"zfs clone tank/vmdata/basevol-101-disk-0@__base__ tank/vmdata/subvol-102-disk-1 -o refquota=8589934592"},
		},
		{
			name: "clone of another base snapshot",
			setup: func(r *runner.Recorder) {
				list(r)
				r.On("zfs clone tank/vmdata/base-100-disk-0@frozen tank/vmdata/vm-300-disk-0", "")
			},
			run:  clone("base-100-disk-0", 300, "frozen", "base-100-disk-0/vm-300-disk-0"),
			want: []string{listCmd, "zfs clone tank/vmdata/base-100-disk-0@frozen tank/vmdata/vm-300-disk-0"},
		},
		{name: "clone of a plain volume", run: clone("vm-100-disk-1", 300, "", ""), err: "made from template bases"},
	})
}

func TestExportImport(t *testing.T) {
	s, r, waited := newTest(t, nil)
	if f := s.ExportFormats(ctx, "vm-100-disk-1"); !reflect.DeepEqual(f, []string{"zfs", "raw+size"}) {
		t.Errorf("zvol formats %v", f)
	}
	if f := s.ExportFormats(ctx, "subvol-104-disk-0"); !reflect.DeepEqual(f, []string{"zfs"}) {
		t.Errorf("subvol formats %v", f)
	}
	r.On("zfs send -Rpv -- tank/vmdata/vm-100-disk-1@snap2", "ZFSSTREAM").
		On("zfs get -o value -Hp volsize tank/vmdata/vm-100-disk-1", "4194304\n").
		On("dd if=/dev/zvol/tank/vmdata/vm-100-disk-1 bs=64k status=progress", "RAW")
	var out bytes.Buffer
	if err := s.Export(ctx, "vm-100-disk-1", "zfs", "snap2", &out); err != nil || out.String() != "ZFSSTREAM" {
		t.Fatalf("zfs export %q %v", out.String(), err)
	}
	out.Reset()
	if err := s.Export(ctx, "vm-100-disk-1", "raw+size", "", &out); err != nil || binary.LittleEndian.Uint64(out.Bytes()) != 4194304 || out.String()[8:] != "RAW" {
		t.Fatalf("raw export %q %v", out.String(), err)
	}
	checkLines(t, r, []string{"zfs send -Rpv -- tank/vmdata/vm-100-disk-1@snap2", "zfs get -o value -Hp volsize tank/vmdata/vm-100-disk-1", "dd if=/dev/zvol/tank/vmdata/vm-100-disk-1 bs=64k status=progress"})
	if !reflect.DeepEqual(*waited, []string{"/dev/zvol/tank/vmdata/vm-100-disk-1"}) {
		t.Errorf("waited %v", *waited)
	}
	for _, bad := range []struct{ vol, format, snap, err string }{
		{"vm-100-disk-1", "zfs", "", "name one"},
		{"vm-100-disk-1", "raw+size", "snap2", "current state"},
		{"subvol-104-disk-0", "raw+size", "", "unsupported export format"},
		{"vm-100-disk-1", "qcow2+size", "", "unsupported export format"},
	} {
		checkErr(t, s.Export(ctx, bad.vol, bad.format, bad.snap, &out), bad.err)
	}

	const notFound = "cannot open 'tank/vmdata/subvol-110-disk-0': dataset does not exist\n"
	runPlans(t, []plan{
		{
			name: "import zfs stream",
			setup: func(r *runner.Recorder) {
				r.Fail("zfs get -H name tank/vmdata/subvol-110-disk-0", 1, notFound).On("zfs recv -F -- tank/vmdata/subvol-110-disk-0", "")
			},
			run: func(s *Storage) error {
				name, err := s.Import(ctx, strings.NewReader("ZFSSTREAM"), 110, "subvol-110-disk-0", "zfs")
				if err == nil && name != "subvol-110-disk-0" {
					t.Errorf("imported as %q", name)
				}
				return err
			},
			want: []string{"zfs get -H name tank/vmdata/subvol-110-disk-0", "zfs recv -F -- tank/vmdata/subvol-110-disk-0"},
		},
		{
			name: "import a linked clone as a volume of its own",
			setup: func(r *runner.Recorder) {
				r.Fail("zfs get -H name tank/vmdata/vm-110-disk-0", 1, notFound).On("zfs recv -F -- tank/vmdata/vm-110-disk-0", "")
			},
			run: func(s *Storage) error {
				name, err := s.Import(ctx, strings.NewReader("ZFSSTREAM"), 110, "base-100-disk-0/vm-110-disk-0", "zfs")
				if err == nil && name != "vm-110-disk-0" {
					t.Errorf("imported as %q", name)
				}
				return err
			},
			want: []string{"zfs get -H name tank/vmdata/vm-110-disk-0", "zfs recv -F -- tank/vmdata/vm-110-disk-0"},
		},
		{
			name: "import over an existing volume",
			setup: func(r *runner.Recorder) {
				r.On("zfs get -H name tank/vmdata/subvol-110-disk-0", "tank/vmdata/subvol-110-disk-0\tname\ttank/vmdata/subvol-110-disk-0\t-\n")
			},
			run: func(s *Storage) error {
				_, err := s.Import(ctx, strings.NewReader("ZFSSTREAM"), 110, "subvol-110-disk-0", "zfs")
				return err
			},
			want: []string{"zfs get -H name tank/vmdata/subvol-110-disk-0"},
			err:  "already exists",
		},
		{
			name: "failed receive is destroyed",
			setup: func(r *runner.Recorder) {
				r.Fail("zfs get -H name tank/vmdata/subvol-110-disk-0", 1, notFound).
					Fail("zfs recv -F -- tank/vmdata/subvol-110-disk-0", 1, "cannot receive: invalid stream (bad magic number)\n").
					On("zfs destroy -r -- tank/vmdata/subvol-110-disk-0", "")
			},
			run: func(s *Storage) error {
				_, err := s.Import(ctx, strings.NewReader("garbage"), 110, "subvol-110-disk-0", "zfs")
				return err
			},
			want: []string{"zfs get -H name tank/vmdata/subvol-110-disk-0", "zfs recv -F -- tank/vmdata/subvol-110-disk-0", "zfs destroy -r -- tank/vmdata/subvol-110-disk-0"},
			err:  "bad magic number",
		},
		{name: "zfs stream without a name", run: func(s *Storage) error { _, err := s.Import(ctx, strings.NewReader(""), 110, "", "zfs"); return err }, err: "give one"},
		{name: "zfs stream of another guest", run: func(s *Storage) error {
			_, err := s.Import(ctx, strings.NewReader(""), 110, "vm-111-disk-0", "zfs")
			return err
		}, err: "belongs to guest 111"},
		{
			name: "import raw",
			setup: func(r *runner.Recorder) {
				r.On(listCmd, fixture(t, "list.txt")).On("zfs create -V 1024k tank/vmdata/vm-110-disk-0", "").On("dd of=/dev/zvol/tank/vmdata/vm-110-disk-0 conv=sparse bs=64k", "")
			},
			run: func(s *Storage) error {
				var b bytes.Buffer
				binary.Write(&b, binary.LittleEndian, uint64(1<<20))
				b.WriteString("RAW")
				name, err := s.Import(ctx, &b, 110, "", "raw+size")
				if err == nil && name != "vm-110-disk-0" {
					t.Errorf("imported as %q", name)
				}
				return err
			},
			want: []string{listCmd, "zfs create -V 1024k tank/vmdata/vm-110-disk-0", "dd of=/dev/zvol/tank/vmdata/vm-110-disk-0 conv=sparse bs=64k"},
		},
		{
			name: "failed raw import is destroyed",
			setup: func(r *runner.Recorder) {
				r.On(listCmd, fixture(t, "list.txt")).On("zfs create -V 1024k tank/vmdata/vm-110-disk-0", "").
					Fail("dd of=/dev/zvol/tank/vmdata/vm-110-disk-0 conv=sparse bs=64k", 1, "dd: error reading 'standard input': Input/output error\n").
					On("zfs destroy -r tank/vmdata/vm-110-disk-0", "")
			},
			run: func(s *Storage) error {
				var b bytes.Buffer
				binary.Write(&b, binary.LittleEndian, uint64(1<<20))
				_, err := s.Import(ctx, &b, 110, "", "raw+size")
				return err
			},
			want: []string{listCmd, "zfs create -V 1024k tank/vmdata/vm-110-disk-0", "dd of=/dev/zvol/tank/vmdata/vm-110-disk-0 conv=sparse bs=64k", "zfs destroy -r tank/vmdata/vm-110-disk-0"},
			err:  "Input/output error",
		},
		{name: "bad size header", run: func(s *Storage) error {
			_, err := s.Import(ctx, strings.NewReader("abc"), 110, "", "raw+size")
			return err
		}, err: "size header"},
		{name: "tar", run: func(s *Storage) error {
			_, err := s.Import(ctx, strings.NewReader(""), 110, "", "tar+size")
			return err
		}, err: "unsupported import format"},
	})
}
