package lvm

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
)

// fixture reads a file of testdata/. The lvm fixtures are real output of
// lvm2 2.03.16 (see testdata/README.md).
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseVGs(t *testing.T) {
	got, err := ParseVGs([]byte(fixture(t, "vgs.txt")))
	if err != nil {
		t.Fatal(err)
	}
	want := []VG{
		{Name: "emptyvg", Size: 62914560, Free: 62914560, LVCount: 0},
		{Name: "hearthcap", Size: 306184192, Free: 226492416, LVCount: 8},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"  vg:1:2\n", "  vg:x:2:0\n", "  :1:2:3\n", "  vg:1:NaN:0\n", "  vg:-5:1:0\n"} {
		if _, err := ParseVGs([]byte(bad)); err == nil {
			t.Errorf("ParseVGs(%q) accepted a broken line", bad)
		}
	}
	if v, err := ParseVGs(nil); err != nil || v != nil {
		t.Errorf("empty output: %v, %v", v, err)
	}
}

func TestParseLVs(t *testing.T) {
	got, err := ParseLVs([]byte(fixture(t, "lvs.txt")))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]LV{}
	for _, lv := range got {
		byName[lv.Name] = lv
	}
	if len(got) != 8 {
		t.Fatalf("got %d volumes, want 8", len(got))
	}
	pool := byName["data"]
	if pool.Type != 't' || pool.State != '-' || pool.Size != 41943040 || pool.MetaSize != 4194304 || pool.CTime != 1695000000 || pool.Used != 0 {
		t.Errorf("thin pool: %+v", pool)
	}
	d1 := byName["vm-100-disk-1"]
	if !reflect.DeepEqual(d1.Tags, []string{"backup", "pve-vm-100"}) || d1.Type != '-' || d1.Size != 4194304 || d1.UUID != "TeKdNn-FRIB-XuDL-7Dxt-pYlS-XpfK-tHF4vU" {
		t.Errorf("tagged volume: %+v", d1)
	}
	if lv := byName["vm-101-disk-0"]; lv.Tags != nil || lv.CTime != 1700000100 {
		t.Errorf("untagged volume: %+v", lv)
	}
	if lv := byName["vm-104-disk-0"]; lv.Type != 'V' || lv.Pool != "data" || lv.Size != 1073741824 {
		t.Errorf("thin volume: %+v", lv)
	}
	if lv := byName["snap_vm-102-disk-0_first"]; lv.Attr != "Vri-XXtz-k" {
		t.Errorf("thin snapshot: %+v", lv)
	}
}

func TestParseLVsEdgeCases(t *testing.T) {
	tests := []struct {
		name, out string
		want      []LV
		err       bool
	}{
		{name: "empty volume group", out: "", want: nil},
		{name: "blank lines", out: "\n  \n", want: nil},
		{
			// an active thin pool, as lvs prints it where device-mapper runs
			name: "data percent with point",
			out:  "  pve:data:1073741824:twi-aotz--::12.50:3.10::Ab-1::4194304:1695000000\n",
			want: []LV{{VG: "pve", Name: "data", Size: 1073741824, Attr: "twi-aotz--", Type: 't', State: 'a', UUID: "Ab-1",
				DataPercent: 12.5, MetaPercent: 3.1, MetaSize: 4194304, CTime: 1695000000, Used: 134217728}},
		},
		{
			name: "data percent with comma",
			out:  "  pve:data:1073741824:twi-aotz--::12,50:3,10::Ab-1::4194304:1695000000\n",
			want: []LV{{VG: "pve", Name: "data", Size: 1073741824, Attr: "twi-aotz--", Type: 't', State: 'a', UUID: "Ab-1",
				DataPercent: 12.5, MetaPercent: 3.1, MetaSize: 4194304, CTime: 1695000000, Used: 134217728}},
		},
		{
			name: "thin volume usage",
			out:  "  pve:vm-100-disk-0:4294967296:Vwi-aotz--:data:50.00:::x:pve-vm-100::1700000000\n",
			want: []LV{{VG: "pve", Name: "vm-100-disk-0", Size: 4294967296, Attr: "Vwi-aotz--", Type: 'V', State: 'a', Pool: "data",
				UUID: "x", Tags: []string{"pve-vm-100"}, DataPercent: 50, CTime: 1700000000, Used: 2147483648}},
		},
		{
			// tags may contain the separator since lvm2 2.02.78
			name: "tag with colon",
			out:  "  vg0:vm-100-disk-0:8388608:-wi-a-----:::::u1:a:b,pve-vm-100,c:d::1700000000\n",
			want: []LV{{VG: "vg0", Name: "vm-100-disk-0", Size: 8388608, Attr: "-wi-a-----", Type: '-', State: 'a', UUID: "u1",
				Tags: []string{"a:b", "pve-vm-100", "c:d"}, CTime: 1700000000}},
		},
		{name: "short attr", out: "  vg0:lv:1:-w:::::u:::\n", want: []LV{{VG: "vg0", Name: "lv", Size: 1, Attr: "-w", UUID: "u"}}},
		{name: "too few columns", out: "  vg0:lv:1:-wi-a-----\n", err: true},
		{name: "size not a number", out: "  vg0:lv:big:-wi-a-----:::::u:::1\n", err: true},
		{name: "percent out of range", out: "  vg0:lv:1:twi-a-----::150.0:::u:::1\n", err: true},
		{name: "percent not a number", out: "  vg0:lv:1:twi-a-----::NaN:::u:::1\n", err: true},
		{name: "time not a number", out: "  vg0:lv:1:-wi-a-----:::::u:::yesterday\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLVs([]byte(tt.out))
			if tt.err {
				if err == nil {
					t.Fatalf("accepted %q: %+v", tt.out, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseSizeAndPV(t *testing.T) {
	if n, err := ParseSize([]byte(fixture(t, "lvsize.txt"))); err != nil || n != 16777216 {
		t.Errorf("ParseSize = %d, %v", n, err)
	}
	for _, bad := range []string{"", "  1\n  2\n", "  x\n"} {
		if _, err := ParseSize([]byte(bad)); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	pv, err := ParsePV([]byte(fixture(t, "pvs.txt")))
	if err != nil {
		t.Fatal(err)
	}
	if *pv != (PV{Name: "/dev/loop2", SizeKB: 61440, VG: "emptyvg", UUID: "OSD15O-O4o8-g5pl-ujMI-km7o-xQ2E-jKFppz"}) {
		t.Errorf("ParsePV = %+v", pv)
	}
	if _, err := ParsePV([]byte("  /dev/a:1.00:vg:u\n  /dev/a:1.00:vg:u\n")); err == nil {
		t.Error("ParsePV accepted two entries")
	}
	if pv, err := ParsePV(nil); pv != nil || err != nil {
		t.Errorf("ParsePV(empty) = %v, %v", pv, err)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"pve": true, "vm-100-disk-0": true, "a.b_c-d": true, "x": false, "-vg": false, "vg-": false,
		"a b": false, "a/b": false, "a..b": false, "": false, "a+b": false, strings.Repeat("a", 128): false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

const (
	fileCmd    = "file -L -s /dev/sdb"
	pvsDevCmd  = "pvs --separator : --noheadings --units k --unbuffered --nosuffix --options pv_name,pv_size,vg_name,pv_uuid /dev/sdb"
	pvcreate   = "pvcreate --metadatasize 250k /dev/sdb"
	vgcreateSh = "vgcreate shared /dev/sdb"
)

func TestCreateVolumeGroup(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *runner.Recorder)
		want  []string
		err   string
	}{
		{
			name: "fresh device",
			setup: func(r *runner.Recorder) {
				r.On(fileCmd, "/dev/sdb: data\n").On(pvcreate, "").On(vgcreateSh, "")
			},
			want: []string{fileCmd, pvcreate, vgcreateSh},
		},
		{
			name: "already the group",
			setup: func(r *runner.Recorder) {
				r.On(fileCmd, fixture(t, "file_pv.txt")).
					On(pvsDevCmd, "  /dev/sdb:61440.00:shared:OSD15O-O4o8-g5pl-ujMI-km7o-xQ2E-jKFppz\n")
			},
			want: []string{fileCmd, pvsDevCmd},
		},
		{
			name: "physical volume without group",
			setup: func(r *runner.Recorder) {
				r.On(fileCmd, "/dev/sdb: LVM2 PV (Linux Logical Volume Manager), UUID: x, size: 1\n").
					On(pvsDevCmd, "  /dev/sdb:61440.00::OSD15O\n").On(pvcreate, "").On(vgcreateSh, "")
			},
			want: []string{fileCmd, pvsDevCmd, pvcreate, vgcreateSh},
		},
		{
			name: "another group's device",
			setup: func(r *runner.Recorder) {
				r.On(fileCmd, "/dev/sdb: LVM2 PV (Linux Logical Volume Manager), UUID: x, size: 1\n").
					On(pvsDevCmd, "  /dev/sdb:61440.00:other:OSD15O\n")
			},
			want: []string{fileCmd, pvsDevCmd},
			err:  `device /dev/sdb is already used by volume group "other"`,
		},
		{
			name: "pvcreate fails",
			setup: func(r *runner.Recorder) {
				r.On(fileCmd, "/dev/sdb: data\n").Fail(pvcreate, 5, "  Cannot use /dev/sdb: device is partitioned\n")
			},
			want: []string{fileCmd, pvcreate},
			err:  "device is partitioned",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runner.Recorder{}
			tt.setup(r)
			err := CreateVolumeGroup(context.Background(), r, "/dev/sdb", "shared")
			checkErr(t, err, tt.err)
			checkLines(t, r, tt.want)
		})
	}
	if err := CreateVolumeGroup(context.Background(), &runner.Recorder{}, "/dev/sdb", "bad name"); err == nil {
		t.Error("accepted an invalid group name")
	}
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
