package guestconf

import (
	"reflect"
	"strings"
	"testing"
)

func TestSetChecksKeysAndValues(t *testing.T) {
	tests := []struct {
		key, value, stored, err string
	}{
		{key: "memory", value: "2048", stored: "2048"},
		{key: "amd-sev", value: "type=std", stored: "type=std"},
		{key: "net10", value: "  virtio,bridge=vmbr0 \t", stored: "virtio,bridge=vmbr0"},
		{key: "args", value: "-a\rb", stored: "-a\rb"},
		{key: DescriptionKey, value: "two\nlines ", stored: "two\nlines "},
		{key: DescriptionKey, value: "", stored: ""},
		{key: "Memory", value: "1", err: "lower-case letter"},
		{key: "net0a", value: "1", err: "invalid key"},
		{key: "", value: "1", err: "invalid key"},
		{key: "delete", value: "net0", err: "AddPendingDelete"},
		{key: "digest", value: "abc", err: "computed"},
		{key: "lxc.idmap", value: "u 0 1 2", err: "AppendRaw"},
		{key: "args", value: "a\nb", err: "line break"},
		{key: "name", value: "  ", err: "empty"},
	}
	for _, tt := range tests {
		var s Section
		err := s.Set(tt.key, tt.value)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Set(%q, %q) = %v, want an error saying %q", tt.key, tt.value, err, tt.err)
			}
			if s.Has(tt.key) {
				t.Errorf("Set(%q, %q) failed but stored the key", tt.key, tt.value)
			}
			continue
		}
		if err != nil {
			t.Errorf("Set(%q, %q): %v", tt.key, tt.value, err)
		}
		if got, ok := s.Get(tt.key); !ok || got != tt.stored {
			t.Errorf("Set(%q, %q) stored %q, %v; want %q", tt.key, tt.value, got, ok, tt.stored)
		}
	}
}

// What Set accepts must be written so that it reads back the same.
func TestSetValuesSurviveTheFile(t *testing.T) {
	for _, kind := range []string{KindQemu, KindLXC} {
		f, _ := New(kind)
		must(t, f.Main.Set("args", "-cpu host,+x:y % %41 \t tab"))
		must(t, f.Main.Set(DescriptionKey, "first: line\n  indented\n\n100% ünïcode %41\n\tlast"))
		must(t, f.Main.AppendRaw("lxc.mount.entry", "/a b none bind"))
		must(t, f.Main.AppendRaw("lxc.mount.entry", ""))
		back, warnings := mustParse(t, kind, f.Bytes())
		if len(warnings) > 0 || !back.Equal(f) {
			t.Errorf("%s: read back as %q (warnings %q)", kind, back.Bytes(), warnings)
		}
	}
}

func TestSectionBasics(t *testing.T) {
	var s Section
	if !s.IsEmpty() || s.Len() != 0 || s.Keys() != nil {
		t.Error("the zero section is not empty")
	}
	must(t, s.Set("name", "a"))
	must(t, s.Set("cores", "2"))
	must(t, s.AppendRaw("lxc.b", "1"))
	must(t, s.AppendRaw("lxc.a", "2"))
	must(t, s.AppendRaw("lxc.b", "3"))
	if got := s.Keys(); !reflect.DeepEqual(got, []string{"cores", "name"}) {
		t.Errorf("keys %v", got)
	}
	c := s.Clone()
	if n := s.DeleteRaw("lxc.b"); n != 2 {
		t.Errorf("DeleteRaw removed %d, want 2", n)
	}
	if !s.Delete("name") || s.Delete("name") {
		t.Error("Delete reports wrongly whether the key was set")
	}
	if got := c.Raw(); len(got) != 3 || c.Value("name") != "a" {
		t.Errorf("the clone changed with the original: %v %v", c.Keys(), got)
	}
	if c.Equal(&s) || !c.Equal(c.Clone()) {
		t.Error("Equal does not tell the sections apart")
	}
	if err := s.AppendRaw("lxc.A", "x"); err == nil {
		t.Error("AppendRaw took an upper-case key")
	}
	if err := s.AppendRaw("lxc.x", "a\nb"); err == nil {
		t.Error("AppendRaw took a line break")
	}
	var nilSec *Section
	if nilSec.Has("x") || !nilSec.IsEmpty() || nilSec.Clone() == nil || !nilSec.Equal(&Section{}) {
		t.Error("a nil section does not read as empty")
	}
}

func TestPendingChanges(t *testing.T) {
	f, _ := New(KindQemu)
	if f.HasPending() {
		t.Fatal("a new file has pending changes")
	}
	must(t, f.Pending.Set("memory", "4096"))
	must(t, f.Pending.Set("cores", "4"))
	must(t, f.AddPendingDelete("memory", false))
	must(t, f.AddPendingDelete("unused0", true))
	if f.Pending.Has("memory") {
		t.Error("AddPendingDelete kept the pending value of the key")
	}
	if marked, force := f.IsPendingDelete("unused0"); !marked || !force {
		t.Errorf("unused0: marked %v force %v", marked, force)
	}
	if err := f.AddPendingDelete("9bad", false); err == nil {
		t.Error("AddPendingDelete took an invalid key")
	}
	want := "\n[PENDING]\ncores: 4\ndelete: memory,!unused0\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("written as %q, want %q", got, want)
	}
	f.RemovePendingDelete("memory")
	f.ClearPending("cores")
	if got := f.PendingDeletes(); !reflect.DeepEqual(got, []PendingDelete{{"unused0", true}}) || f.Pending.Has("cores") {
		t.Errorf("after clearing: deletes %v, pending %v", got, f.Pending.Keys())
	}
	f.ClearPending("unused0")
	if f.HasPending() || len(f.Bytes()) != 0 {
		t.Errorf("nothing should be pending: %q", f.Bytes())
	}
}

// snapFile builds a file whose snapshots have the given parents ("" for
// none) and whose main section has parent current.
func snapFile(t *testing.T, current string, parents map[string]string) *File {
	t.Helper()
	f, _ := New(KindLXC)
	if current != "" {
		must(t, f.Main.Set("parent", current))
	}
	for name, parent := range parents {
		s := &Section{}
		if parent != "" {
			must(t, s.Set("parent", parent))
		}
		must(t, f.SetSnapshot(name, s))
	}
	return f
}

func TestSnapshotChain(t *testing.T) {
	f := snapFile(t, "cc", map[string]string{"aa": "", "bb": "aa", "cc": "bb", "dd": "bb", "xx": "gone", "l1": "l2", "l2": "l1"})
	tests := []struct {
		start string
		want  []string
		err   string
	}{
		{"cc", []string{"cc", "bb", "aa"}, ""},
		{"aa", []string{"aa"}, ""},
		{"xx", []string{"xx"}, ""}, // its parent was lost in a hand edit
		{"", nil, ""},
		{"nope", nil, `no snapshot "nope"`},
		{"l1", nil, "loop"},
	}
	for _, tt := range tests {
		got, err := f.SnapshotChain(tt.start)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SnapshotChain(%q) = %v, %v; want an error saying %q", tt.start, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SnapshotChain(%q) = %v, %v; want %v", tt.start, got, err, tt.want)
		}
	}
	if got := f.SnapshotChildren("bb"); !reflect.DeepEqual(got, []string{"cc", "dd"}) {
		t.Errorf("children of bb: %v", got)
	}
}

func TestDeleteSnapshotRelinks(t *testing.T) {
	f := snapFile(t, "cc", map[string]string{"aa": "", "bb": "aa", "cc": "bb", "dd": "bb"})
	if !f.DeleteSnapshot("bb") || f.DeleteSnapshot("bb") {
		t.Fatal("DeleteSnapshot reports wrongly whether the snapshot existed")
	}
	if got := f.SnapshotChildren("aa"); !reflect.DeepEqual(got, []string{"cc", "dd"}) {
		t.Errorf("children of aa after deleting bb: %v", got)
	}
	if !f.DeleteSnapshot("aa") {
		t.Fatal("aa is missing")
	}
	if f.Snapshot("cc").Has("parent") || f.Snapshot("dd").Has("parent") || f.Main.Value("parent") != "cc" {
		t.Errorf("after deleting the root: cc %v, dd %v, main parent %q", f.Snapshot("cc").Keys(), f.Snapshot("dd").Keys(), f.Main.Value("parent"))
	}
	f.DeleteSnapshot("cc")
	if f.Main.Has("parent") {
		t.Error("main still points at a deleted root snapshot")
	}
}

func TestSetSnapshotChecksName(t *testing.T) {
	f, _ := New(KindQemu)
	for _, name := range []string{"", "a", "1st", "pending", "Pending", "snap shot", "x:y", "ab]"} {
		if err := f.SetSnapshot(name, nil); err == nil {
			t.Errorf("SetSnapshot(%q) accepted", name)
		}
	}
	for _, name := range []string{"ab", "Before_Upgrade-2", "vzdump", "current"} {
		if err := f.SetSnapshot(name, nil); err != nil {
			t.Errorf("SetSnapshot(%q): %v", name, err)
		}
	}
	if got := f.SnapshotNames(); !reflect.DeepEqual(got, []string{"Before_Upgrade-2", "ab", "current", "vzdump"}) {
		t.Errorf("names %v", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	f, _ := mustParse(t, KindQemu, readFile(t, "testdata/canonical/vm-shop.conf"))
	orig := string(f.Bytes())
	c := f.Clone()
	if !c.Equal(f) || string(c.Bytes()) != orig {
		t.Fatal("the clone differs")
	}
	must(t, c.Main.Set("memory", "1"))
	must(t, c.Snapshot("before-upgrade").Set("memory", "1"))
	must(t, c.CloudInit.Set("name", "other"))
	must(t, c.AddPendingDelete("tags", false))
	c.DeleteSnapshot("after-upgrade")
	if string(f.Bytes()) != orig {
		t.Error("changing the clone changed the original")
	}
	if c.Equal(f) {
		t.Error("Equal misses the changes")
	}
}

func TestKindSpecificParts(t *testing.T) {
	vm, _ := New(KindQemu)
	must(t, vm.Main.Set("name", "a"))
	must(t, vm.Main.AppendRaw("lxc.idmap", "u 0 1 2"))
	must(t, vm.Pending.AppendRaw("lxc.idmap", "u 0 1 2"))
	if got := string(vm.Bytes()); got != "name: a\n" {
		t.Errorf("a VM wrote raw LXC keys: %q", got)
	}
	ct, _ := New(KindLXC)
	must(t, ct.CloudInit.Set("name", "a"))
	if got := string(ct.Bytes()); got != "" {
		t.Errorf("a container wrote cloud-init: %q", got)
	}
	ct.Main, ct.Pending = nil, nil
	if got := ct.Bytes(); len(got) != 0 {
		t.Errorf("nil sections written as %q", got)
	}
	if _, err := New("vz"); err == nil {
		t.Error("New accepted an unknown kind")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
