package vmconf

import (
	"reflect"
	"testing"
)

// The fuzz targets check that parsing never panics, that whatever parses
// prints to a canonical form that parses back to the same value, and that
// the canonical form is stable. Seeds live in testdata/fuzz/<target>/.

func FuzzParseDrive(f *testing.F) {
	f.Add("scsi0", "local-lvm:vm-100-disk-0,iothread=1,size=32G")
	f.Fuzz(func(t *testing.T, key, value string) {
		d, err := ParseDrive(key, value)
		if err != nil {
			return
		}
		out := d.String()
		back, err := ParseDrive(d.Key, out)
		if err != nil {
			t.Fatalf("ParseDrive(%q, %q) printed %q, which does not parse: %v", key, value, out, err)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", value, out, back, d)
		}
		if again := back.String(); again != out {
			t.Fatalf("canonical form is not stable: %q then %q", out, again)
		}
	})
}

func FuzzParseNet(f *testing.F) {
	f.Add("net0", "virtio=BC:24:11:2E:3A:1F,bridge=vmbr0,firewall=1")
	f.Fuzz(func(t *testing.T, key, value string) {
		n, err := ParseNet(key, value)
		if err != nil {
			return
		}
		out := n.String()
		back, err := ParseNet(key, out)
		if err != nil {
			t.Fatalf("ParseNet(%q) printed %q, which does not parse: %v", value, out, err)
		}
		if !reflect.DeepEqual(back, n) {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", value, out, back, n)
		}
		if again := back.String(); again != out {
			t.Fatalf("canonical form is not stable: %q then %q", out, again)
		}
	})
}

// FuzzDecode also checks that Decode and a strict Validate of the same key
// agree, and that Validate's cleaned value is accepted again unchanged.
func FuzzDecode(f *testing.F) {
	f.Add("cpu", "host,flags=+aes")
	f.Fuzz(func(t *testing.T, key, value string) {
		_, decodeErr := Decode(key, value)
		clean, _, validateErr := Validate(100, map[string]string{key: value}, true)
		if (decodeErr == nil) != (validateErr == nil) {
			t.Fatalf("%s %q: Decode says %v, Validate says %v", key, value, decodeErr, validateErr)
		}
		if validateErr != nil {
			return
		}
		again, _, err := Validate(100, clean, true)
		if err != nil || !reflect.DeepEqual(again, clean) {
			t.Fatalf("%s %q: cleaned %v, then %v, %v", key, value, clean, again, err)
		}
	})
}
