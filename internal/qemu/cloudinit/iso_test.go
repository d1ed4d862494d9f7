package cloudinit

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
)

// fakeGenisoimage answers through a Recorder and, when the recorder lets
// the command succeed, acts like genisoimage on the file system: it reads
// the staged directory (its last argument) and writes the -o image.
type fakeGenisoimage struct {
	rec    *runner.Recorder
	staged map[string]string
	modes  map[string]fs.FileMode
}

func (f *fakeGenisoimage) Run(ctx context.Context, c runner.Cmd) (runner.Result, error) {
	res, err := f.rec.Run(ctx, c)
	if err != nil {
		return res, err
	}
	dir := c.Args[len(c.Args)-1]
	f.staged, f.modes = map[string]string{}, map[string]fs.FileMode{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		f.modes[filepath.ToSlash(rel)] = info.Mode().Perm()
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		f.staged[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		return res, err
	}
	out := c.Args[slices.Index(c.Args, "-o")+1]
	return res, os.WriteFile(out, []byte("new image"), 0o644)
}

func TestWriteISORunsGenisoimageOnStagedFiles(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "vm-100-cloudinit.iso")
	if err := os.WriteFile(dst, []byte("old image"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A leftover from an interrupted run must not reach the image.
	if err := os.MkdirAll(dst+StageSuffix+"/stale", 0o700); err != nil {
		t.Fatal(err)
	}
	want := "genisoimage -quiet -iso-level 3 -R -J -V config-2 -o " + dst + ".tmp " + dst + ".files"
	fake := &fakeGenisoimage{rec: (&runner.Recorder{}).On(want, "")}
	files := Files{
		"openstack/latest/user_data":      "#cloud-config\n",
		"openstack/latest/meta_data.json": "{}\n",
		"openstack/content/0000":          "auto lo\n",
	}
	if err := WriteISO(context.Background(), fake, files, "config-2", dst); err != nil {
		t.Fatal(err)
	}
	if got := fake.rec.Lines(); !slices.Equal(got, []string{want}) {
		t.Fatalf("commands:\n%q\nwant\n%q", got, want)
	}
	if len(fake.staged) != len(files) {
		t.Errorf("staged %v, want exactly %v", fake.staged, files.Names())
	}
	for n, c := range files {
		if fake.staged[n] != c {
			t.Errorf("staged %s = %q, want %q", n, fake.staged[n], c)
		}
		if fake.modes[n] != 0o600 {
			t.Errorf("staged %s has mode %v, want 0600 (it may hold a password hash)", n, fake.modes[n])
		}
	}
	data, err := os.ReadFile(dst)
	if err != nil || string(data) != "new image" {
		t.Fatalf("dst = %q, %v; want the built image", data, err)
	}
	if info, _ := os.Stat(dst); info.Mode().Perm() != 0o600 {
		t.Errorf("image mode %v, want 0600", info.Mode().Perm())
	}
	assertGone(t, dst+TempSuffix, dst+StageSuffix)
}

func TestWriteISOFailureKeepsTheOldImage(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "vm-101-cloudinit.iso")
	if err := os.WriteFile(dst, []byte("old image"), 0o644); err != nil {
		t.Fatal(err)
	}
	line := "genisoimage -quiet -iso-level 3 -R -J -V cidata -o " + dst + ".tmp " + dst + ".files"
	rec := (&runner.Recorder{}).Fail(line, 1, "genisoimage: No space left on device.\n")
	err := WriteISO(context.Background(), rec, Files{"user-data": "#cloud-config\n"}, "cidata", dst)
	if err == nil || !strings.Contains(err.Error(), "No space left on device") || !strings.Contains(err.Error(), dst) {
		t.Fatalf("err = %v; want the tool's complaint and the image path", err)
	}
	if data, _ := os.ReadFile(dst); string(data) != "old image" {
		t.Fatalf("dst = %q; a failed build must leave the old image", data)
	}
	assertGone(t, dst+TempSuffix, dst+StageSuffix)
}

func TestWriteISOFailsWhenNoImageAppears(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "vm-102-cloudinit.iso")
	rec := (&runner.Recorder{}).OnPrefix("genisoimage ", "") // succeeds but writes nothing
	err := WriteISO(context.Background(), rec, Files{"context.sh": "X=1\n"}, "CONTEXT", dst)
	if err == nil || !strings.Contains(err.Error(), "no image") {
		t.Fatalf("err = %v; want a missing image reported", err)
	}
	assertGone(t, dst, dst+StageSuffix)
}

func TestWriteISORejectsBadInput(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "x.iso")
	for _, tc := range []struct {
		label string
		files Files
		want  string
	}{
		{"", Files{"a": ""}, "volume label"},
		{"way-too-long-label-for-iso-9660-volumes", Files{"a": ""}, "volume label"},
		{"ci data", Files{"a": ""}, "volume label"},
		{"cidata", nil, "no files"},
		{"cidata", Files{"../escape": ""}, `"../escape"`},
		{"cidata", Files{"/etc/passwd": ""}, `"/etc/passwd"`},
		{"cidata", Files{"a/../b": ""}, `"a/../b"`},
		{"cidata", Files{"a//b": ""}, `"a//b"`},
	} {
		rec := &runner.Recorder{}
		err := WriteISO(context.Background(), rec, tc.files, tc.label, dst)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("label %q files %v: err = %v, want it to mention %s", tc.label, tc.files.Names(), err, tc.want)
		}
		if len(rec.Lines()) != 0 {
			t.Errorf("label %q files %v: ran %q before checking input", tc.label, tc.files.Names(), rec.Lines())
		}
	}
}

// TestWriteISOWithGenisoimage builds a real image and reads it back with
// isoinfo through both name extensions: Rock Ridge (Linux guests) and
// Joliet (Windows guests).
func TestWriteISOWithGenisoimage(t *testing.T) {
	for _, tool := range []string{"genisoimage", "isoinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package genisoimage): %v", tool, err)
		}
	}
	spec := readSpec(t, "testdata/configdrive2.json")
	files, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	format, _ := Format(spec.Type, spec.OSType)
	dst := filepath.Join(t.TempDir(), "vm-106-cloudinit.iso")
	if err := WriteISO(context.Background(), runner.Exec{}, files, Label(format), dst); err != nil {
		t.Fatal(err)
	}
	isoinfo := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("isoinfo", append([]string{"-i", dst}, args...)...).Output()
		if err != nil {
			t.Fatalf("isoinfo %q: %v", args, err)
		}
		return string(out)
	}
	if d := isoinfo("-d"); !strings.Contains(d, "Volume id: config-2\n") {
		t.Errorf("volume descriptor does not carry the label config-2:\n%s", d)
	}
	listing := isoinfo("-R", "-l")
	onImage := listedFiles(listing)
	if !slices.Equal(onImage, files.Names()) {
		t.Errorf("image holds %q, want %q:\n%s", onImage, files.Names(), listing)
	}
	for _, n := range files.Names() {
		for _, ext := range []string{"-R", "-J"} {
			if got := isoinfo(ext, "-x", "/"+n); got != files[n] {
				t.Errorf("%s read back with %s = %q, want %q", n, ext, got, files[n])
			}
		}
	}
	assertGone(t, dst+TempSuffix, dst+StageSuffix)
}

// listedFiles turns the output of isoinfo -l into the sorted paths of
// the regular files, relative to the root.
func listedFiles(listing string) []string {
	var dir string
	var out []string
	for line := range strings.Lines(listing) {
		if d, ok := strings.CutPrefix(line, "Directory listing of /"); ok {
			dir = strings.TrimSpace(d)
			continue
		}
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.HasPrefix(fields[0], "-") {
			out = append(out, dir+fields[len(fields)-1])
		}
	}
	slices.Sort(out)
	return out
}

func assertGone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
}
