package ctconf

import (
	"reflect"
	"testing"
)

// The fuzz targets check that parsing never panics, that whatever parses
// prints to a canonical form that parses back to the same value, and that
// the canonical form is stable. Seeds live in testdata/fuzz/<target>/.

// roundTrip checks the canonical form of a parsed value x.
func roundTrip[T interface{ String() string }](t *testing.T, value string, x T, parse func(string) (T, error)) {
	t.Helper()
	out := x.String()
	back, err := parse(out)
	if err != nil {
		t.Fatalf("%q printed as %q, which does not parse: %v", value, out, err)
	}
	if !reflect.DeepEqual(back, x) {
		t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", value, out, back, x)
	}
	if again := back.String(); again != out {
		t.Fatalf("canonical form is not stable: %q then %q", out, again)
	}
}

func FuzzParseMountPoint(f *testing.F) {
	f.Add("mp0", "local-lvm:vm-100-disk-1,mp=/data,size=8G")
	f.Fuzz(func(t *testing.T, key, value string) {
		m, err := ParseMountPoint(key, value)
		if err != nil {
			return
		}
		roundTrip(t, value, m, func(s string) (*MountPoint, error) { return ParseMountPoint(key, s) })
	})
}

func FuzzParseNet(f *testing.F) {
	f.Add("net0", "name=eth0,bridge=vmbr0,ip=dhcp")
	f.Fuzz(func(t *testing.T, key, value string) {
		n, err := ParseNet(key, value)
		if err != nil {
			return
		}
		roundTrip(t, value, n, func(s string) (*Net, error) { return ParseNet(key, s) })
	})
}

func FuzzParseFeatures(f *testing.F) {
	f.Add("nesting=1,mount=nfs;cifs")
	f.Fuzz(func(t *testing.T, value string) {
		x, err := ParseFeatures(value)
		if err != nil {
			return
		}
		roundTrip(t, value, x, ParseFeatures)
	})
}

func FuzzParseDevice(f *testing.F) {
	f.Add("dev0", "/dev/ttyUSB0,mode=0660")
	f.Fuzz(func(t *testing.T, key, value string) {
		d, err := ParseDevice(key, value)
		if err != nil {
			return
		}
		roundTrip(t, value, d, func(s string) (*Device, error) { return ParseDevice(key, s) })
	})
}

// FuzzParseIDMap also checks that every id of a parsed range maps back
// and forth: the first and last id inside land on the first and last id
// on the host.
func FuzzParseIDMap(f *testing.F) {
	f.Add("u 0 100000 65536")
	f.Fuzz(func(t *testing.T, value string) {
		m, err := ParseIDMap(value)
		if err != nil {
			return
		}
		roundTrip(t, value, m, ParseIDMap)
		ms := IDMaps{m}
		mapID := ms.MapUID
		if m.Kind == 'g' {
			mapID = ms.MapGID
		}
		if h, ok := mapID(m.Inside); !ok || h != m.Host {
			t.Fatalf("%q: first id maps to %d, %v", value, h, ok)
		}
		if h, ok := mapID(m.Inside + m.N - 1); !ok || h != m.Host+m.N-1 {
			t.Fatalf("%q: last id maps to %d, %v", value, h, ok)
		}
		if _, ok := mapID(m.Inside + m.N); ok {
			t.Fatalf("%q: the id after the range is mapped", value)
		}
	})
}

// FuzzValidate checks that a strict Validate of one key never panics and
// that its cleaned value is accepted again unchanged.
func FuzzValidate(f *testing.F) {
	f.Add("cores", "04")
	f.Fuzz(func(t *testing.T, key, value string) {
		clean, _, err := Validate(100, map[string]string{key: value}, true)
		if err != nil {
			return
		}
		again, _, err := Validate(100, clean, true)
		if err != nil || !reflect.DeepEqual(again, clean) {
			t.Fatalf("%s %q: cleaned %v, then %v, %v", key, value, clean, again, err)
		}
	})
}
