package cmdline

import (
	"slices"
	"strings"
	"testing"
)

// FuzzSplitArgs checks that splitting never panics and that words it
// returns come back unchanged when quoted for the shell and split again.
func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{"", "-a b", `-smbios 'type=0,vendor=A B'`, `"x \" y"`, `a\ b`, `'it'\''s'`, "a\\\nb", `"$HOME"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitArgs(s)
		if err != nil {
			return
		}
		again, err := splitArgs(Quote(words))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("split %q = %q; quoted %q splits to %q (%v)", s, words, Quote(words), again, err)
		}
	})
}

// FuzzBuild sets one configuration key of a small VM to any value: Build
// and the hot-plug planners must refuse or succeed, never panic, and a
// successful Build must start with the QEMU binary.
func FuzzBuild(f *testing.F) {
	for _, kv := range [][2]string{
		{"scsi1", "local:100/vm-100-disk-1.qcow2,iothread=1,mbps=10"}, {"net1", "e1000=BC:24:11:00:00:09,bridge=vmbr1,mtu=1"},
		{"cpu", "host,flags=+aes"}, {"numa0", "cpus=0,memory=1024"}, {"vga", "qxl4,memory=64"}, {"boot", "order=net0;scsi0"},
		{"machine", "q35,viommu=intel"}, {"usb0", "host=1-1.2"}, {"hostpci3", "01:00,pcie=1"}, {"smbios1", "base64=1,serial=eA=="},
		{"args", "-x 'y z'"}, {"ide3", "none,media=cdrom"}, {"hotplug", "cpu,memory"}, {"memory", "current=2048"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		in := baseInput()
		in.Config[key] = value
		argv, _, err := Build(in)
		if err == nil && (len(argv) == 0 || argv[0] != "qemu-system-x86_64") {
			t.Fatalf("Build gave %q", argv)
		}
		if strings.HasPrefix(key, "net") {
			_, _, _ = NetObjects(in, key)
		} else {
			_, _ = DriveAttachment(in, key)
		}
	})
}
