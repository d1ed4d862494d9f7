package vmconf

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// VGA is the value of vga.
type VGA struct {
	Type      string // std when empty
	Clipboard string // vnc
	Memory    Opt[int]
}

func (g *VGA) fields() []field {
	return []field{strField("type", &g.Type), strField("clipboard", &g.Clipboard), optField("memory", &g.Memory)}
}

// ParseVGA parses the vga value.
func ParseVGA(v string) (*VGA, error) {
	g := &VGA{}
	if err := parseProp(propOf("vga"), v, g); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *VGA) String() string { return printProp(propOf("vga"), g) }

// RNG is the value of rng0, a virtio random number generator.
type RNG struct {
	Source   string
	MaxBytes Opt[int]
	Period   Opt[int] // milliseconds
}

func (r *RNG) fields() []field {
	return []field{reqStrField("source", &r.Source), optField("max_bytes", &r.MaxBytes), optField("period", &r.Period)}
}

// ParseRNG parses the rng0 value.
func ParseRNG(v string) (*RNG, error) {
	r := &RNG{}
	if err := parseProp(propOf("rng0"), v, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RNG) String() string { return printProp(propOf("rng0"), r) }

// Watchdog is the value of watchdog.
type Watchdog struct {
	Model  string // i6300esb when empty
	Action string
}

func (w *Watchdog) fields() []field {
	return []field{strField("model", &w.Model), strField("action", &w.Action)}
}

// ParseWatchdog parses the watchdog value.
func ParseWatchdog(v string) (*Watchdog, error) {
	w := &Watchdog{}
	if err := parseProp(propOf("watchdog"), v, w); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Watchdog) String() string { return printProp(propOf("watchdog"), w) }

// USB is the value of usb0 to usb14.
type USB struct {
	Host    string // vendor:product, bus-port, or spice
	Mapping string
	USB3    Opt[bool]
}

func (u *USB) fields() []field {
	return []field{strField("host", &u.Host), strField("mapping", &u.Mapping), optField("usb3", &u.USB3)}
}

// ParseUSB parses the value of a usbN key. It needs either a host device
// or a mapping, not both.
func ParseUSB(v string) (*USB, error) {
	u := &USB{}
	if err := parseProp(propOf("usb0"), v, u); err != nil {
		return nil, err
	}
	if err := oneOf("host", u.Host, "mapping", u.Mapping); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *USB) String() string { return printProp(propOf("usb0"), u) }

// IsSpice reports whether the device is a SPICE redirection channel.
func (u *USB) IsSpice() bool { return strings.EqualFold(u.Host, "spice") }

// VendorProduct returns the ids of a host device named vendor:product.
func (u *USB) VendorProduct() (vendor, product uint16, ok bool) {
	a, b, found := strings.Cut(u.Host, ":")
	if !found {
		return 0, 0, false
	}
	v, err1 := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 16)
	p, err2 := strconv.ParseUint(strings.TrimPrefix(b, "0x"), 16, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint16(v), uint16(p), true
}

// Port returns the bus and port path of a host device named by where it
// is plugged in (bus-port[.port...]).
func (u *USB) Port() (bus int, port string, ok bool) {
	a, b, found := strings.Cut(u.Host, "-")
	if !found {
		return 0, "", false
	}
	n, err := strconv.Atoi(a)
	if err != nil {
		return 0, "", false
	}
	return n, b, true
}

// HostPCI is the value of hostpci0 to hostpci15, a passed-through host
// PCI device.
type HostPCI struct {
	Host                     []string // [domain:]bus:device[.function], one or several
	Mapping                  string
	DeviceID                 string // 0x-prefixed hex overrides
	VendorID                 string
	SubDeviceID, SubVendorID string
	Driver                   string // vfio (the default) or keep
	MDev                     string
	ROMFile                  string
	LegacyIGD                Opt[bool]
	PCIe                     Opt[bool]
	ROMBar                   Opt[bool]
	XVGA                     Opt[bool]
}

func (h *HostPCI) fields() []field {
	return []field{
		listField("host", ";", &h.Host), strField("mapping", &h.Mapping),
		strField("device-id", &h.DeviceID), strField("vendor-id", &h.VendorID),
		strField("sub-device-id", &h.SubDeviceID), strField("sub-vendor-id", &h.SubVendorID),
		strField("driver", &h.Driver), strField("mdev", &h.MDev), strField("romfile", &h.ROMFile),
		optField("legacy-igd", &h.LegacyIGD), optField("pcie", &h.PCIe), optField("rombar", &h.ROMBar), optField("x-vga", &h.XVGA),
	}
}

// ParseHostPCI parses the value of a hostpciN key. It needs either host
// addresses or a mapping, not both.
func ParseHostPCI(v string) (*HostPCI, error) {
	h := &HostPCI{}
	if err := parseProp(propOf("hostpci0"), v, h); err != nil {
		return nil, err
	}
	if err := oneOf("host", strings.Join(h.Host, ";"), "mapping", h.Mapping); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *HostPCI) String() string { return printProp(propOf("hostpci0"), h) }

// oneOf checks that exactly one of two alternative keys is set.
func oneOf(a, av, b, bv string) error {
	switch {
	case av == "" && bv == "":
		return fmt.Errorf("%s or %s is required", a, b)
	case av != "" && bv != "":
		return fmt.Errorf("%s: cannot be combined with %s; set one of them", b, a)
	}
	return nil
}

// Serial is the value of serial0 to serial3.
type Serial struct {
	Device string // "socket" or a host device path
}

// ParseSerial parses the value of a serialN key.
func ParseSerial(v string) (*Serial, error) {
	if _, err := schemas().opts["serial0"].Parse(v); err != nil {
		return nil, err
	}
	return &Serial{Device: v}, nil
}

// IsSocket reports whether the port is a host socket (qm terminal) rather
// than a host device.
func (s *Serial) IsSocket() bool { return s.Device == "socket" }

func (s *Serial) String() string { return s.Device }

// ParseParallel checks the value of a parallelN key, a host parallel port
// device, and returns its path.
func ParseParallel(v string) (string, error) {
	if _, err := schemas().opts["parallel0"].Parse(v); err != nil {
		return "", err
	}
	return v, nil
}

// SMBIOS1 is the value of smbios1, the system table the guest reads. The
// text fields hold what the configuration holds: base64 when Base64 is
// set; Text decodes them.
type SMBIOS1 struct {
	UUID                                                string
	Base64                                              Opt[bool]
	Family, Manufacturer, Product, Serial, SKU, Version string
}

func (s *SMBIOS1) fields() []field {
	return []field{
		strField("uuid", &s.UUID), optField("base64", &s.Base64),
		strField("family", &s.Family), strField("manufacturer", &s.Manufacturer), strField("product", &s.Product),
		strField("serial", &s.Serial), strField("sku", &s.SKU), strField("version", &s.Version),
	}
}

// ParseSMBIOS1 parses the smbios1 value; with base64 set, every text
// field must decode.
func ParseSMBIOS1(v string) (*SMBIOS1, error) {
	s := &SMBIOS1{}
	if err := parseProp(propOf("smbios1"), v, s); err != nil {
		return nil, err
	}
	if _, err := s.Text(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SMBIOS1) String() string { return printProp(propOf("smbios1"), s) }

// Text returns the set text fields by key, decoded from base64 when the
// value says they are encoded.
func (s *SMBIOS1) Text() (map[string]string, error) {
	out := map[string]string{}
	for _, f := range s.fields() {
		if f.key == "uuid" || f.key == "base64" {
			continue
		}
		v, ok := f.get()
		if !ok {
			continue
		}
		if s.Base64.Or(false) {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not valid base64", f.key, v)
			}
			v = string(b)
		}
		out[f.key] = v
	}
	return out, nil
}

// Audio is the value of audio0.
type Audio struct {
	Device string
	Driver string // spice (the default) or none
}

func (a *Audio) fields() []field {
	return []field{reqStrField("device", &a.Device), strField("driver", &a.Driver)}
}

// ParseAudio parses the audio0 value.
func ParseAudio(v string) (*Audio, error) {
	a := &Audio{}
	if err := parseProp(propOf("audio0"), v, a); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Audio) String() string { return printProp(propOf("audio0"), a) }

// SpiceEnhancements is the value of spice_enhancements.
type SpiceEnhancements struct {
	FolderSharing  Opt[bool]
	VideoStreaming string
}

func (s *SpiceEnhancements) fields() []field {
	return []field{optField("foldersharing", &s.FolderSharing), strField("videostreaming", &s.VideoStreaming)}
}

// ParseSpiceEnhancements parses the spice_enhancements value.
func ParseSpiceEnhancements(v string) (*SpiceEnhancements, error) {
	s := &SpiceEnhancements{}
	if err := parseProp(propOf("spice_enhancements"), v, s); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SpiceEnhancements) String() string { return printProp(propOf("spice_enhancements"), s) }

// VirtioFS is the value of virtiofs0 to virtiofs9.
type VirtioFS struct {
	DirID                            string
	Cache                            string
	DirectIO, ExposeACL, ExposeXattr Opt[bool]
}

func (f *VirtioFS) fields() []field {
	return []field{
		reqStrField("dirid", &f.DirID), strField("cache", &f.Cache), optField("direct-io", &f.DirectIO),
		optField("expose-acl", &f.ExposeACL), optField("expose-xattr", &f.ExposeXattr),
	}
}

// ParseVirtioFS parses the value of a virtiofsN key.
func ParseVirtioFS(v string) (*VirtioFS, error) {
	f := &VirtioFS{}
	if err := parseProp(propOf("virtiofs0"), v, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *VirtioFS) String() string { return printProp(propOf("virtiofs0"), f) }

// Ivshmem is the value of ivshmem.
type Ivshmem struct {
	Size int // MB
	Name string
}

func (i *Ivshmem) fields() []field {
	return []field{reqField("size", &i.Size), strField("name", &i.Name)}
}

// ParseIvshmem parses the ivshmem value.
func ParseIvshmem(v string) (*Ivshmem, error) {
	i := &Ivshmem{}
	if err := parseProp(propOf("ivshmem"), v, i); err != nil {
		return nil, err
	}
	return i, nil
}

func (i *Ivshmem) String() string { return printProp(propOf("ivshmem"), i) }

// AMDSEV is the value of amd-sev.
type AMDSEV struct {
	Type                                          string // std, es or snp
	AllowSMT, KernelHashes, NoDebug, NoKeySharing Opt[bool]
}

func (a *AMDSEV) fields() []field {
	return []field{
		reqStrField("type", &a.Type), optField("allow-smt", &a.AllowSMT), optField("kernel-hashes", &a.KernelHashes),
		optField("no-debug", &a.NoDebug), optField("no-key-sharing", &a.NoKeySharing),
	}
}

// ParseAMDSEV parses the amd-sev value.
func ParseAMDSEV(v string) (*AMDSEV, error) {
	a := &AMDSEV{}
	if err := parseProp(propOf("amd-sev"), v, a); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *AMDSEV) String() string { return printProp(propOf("amd-sev"), a) }

// IntelTDX is the value of intel-tdx.
type IntelTDX struct {
	Type                string // tdx
	Attestation         bool
	VsockCID, VsockPort Opt[int]
}

func (t *IntelTDX) fields() []field {
	return []field{
		reqStrField("type", &t.Type), reqField("attestation", &t.Attestation),
		optField("vsock-cid", &t.VsockCID), optField("vsock-port", &t.VsockPort),
	}
}

// ParseIntelTDX parses the intel-tdx value.
func ParseIntelTDX(v string) (*IntelTDX, error) {
	t := &IntelTDX{}
	if err := parseProp(propOf("intel-tdx"), v, t); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *IntelTDX) String() string { return printProp(propOf("intel-tdx"), t) }
