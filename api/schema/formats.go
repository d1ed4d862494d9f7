package schema

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A format checks a string value and says what is wrong with it.
type format func(v string) error

// The named formats of the API, defined once. Names and rules follow
// Proxmox VE so that clients validating against its schema agree with us.
// This table is read-only after package initialisation.
var formats = map[string]format{
	"pve-node":               reFormat("node name", `(?i:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)`, "letters, digits and inner hyphens"),
	"pve-vmid":               checkVMID,
	"pve-configid":           reFormat("configuration key", `(?i:[a-z][a-z0-9_-]+)`, "a letter followed by letters, digits, '_' or '-'"),
	"pve-storage-id":         reFormat("storage id", `(?i:[a-z][a-z0-9._-]*[a-z0-9])`, "a letter, then letters, digits, '.', '_' or '-', ending in a letter or digit"),
	"pve-userid":             checkUserID,
	"pve-tokenid":            checkTokenID,
	"pve-token-name":         checkTokenName,
	"pve-realm":              checkRealm,
	"pve-poolid":             reFormat("pool id", `[A-Za-z0-9.\-_]+(?:/[A-Za-z0-9.\-_]+){0,2}`, "up to three '/'-separated levels of letters, digits, '.', '-' or '_'"),
	"pve-groupid":            reFormat("group id", `[A-Za-z0-9.\-_]+`, "letters, digits, '.', '-' or '_'"),
	"pve-roleid":             reFormat("role id", `[A-Za-z0-9.\-_]+`, "letters, digits, '.', '-' or '_'"),
	"pve-iface":              reFormat("interface name", `[a-zA-Z][a-zA-Z0-9_]{1,20}(?:[:.]\d+)?`, "an interface name: a letter, then 1 to 20 letters, digits or '_', optionally '.<vlan>' or ':<n>'"),
	"pve-bridge-id":          reFormat("bridge name", `[-_.\w]+`, "letters, digits, '.', '-' or '_'"),
	"pve-tag":                reFormat("tag", `(?i:[a-z0-9_][a-z0-9_\-+.]*)`, "letters, digits, '_', '-', '+' or '.', not starting with '-', '+' or '.'"),
	"pve-storage-content":    enumFormat("images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none"),
	"pve-task-status-type":   enumFormat("ok", "error", "warning", "unknown"),
	"pve-priv":               reFormat("privilege name", `[A-Z][A-Za-z]+\.[A-Za-z.]+`, "a privilege name such as VM.Audit"),
	"pve-volume-id":          checkVolumeID,
	"pve-storage-path":       checkAbsPath,
	"pve-storage-server":     checkStorageServer,
	"pve-storage-portal-dns": checkPortal,
	"pve-storage-vgname":     reFormat("volume group name", `[a-zA-Z0-9.+_][a-zA-Z0-9.+_-]*`, "letters, digits, '.', '+', '_' or '-', not starting with '-'"),
	"pve-storage-options":    reFormat("mount options", `[^\s'"]+`, "mount options without spaces or quotes, such as vers=4.2,soft"),
	"pve-dir-override":       checkDirOverride,
	"pve-upid":               checkUPIDShape,
	"mac-addr":               checkMAC,
	"mac-prefix":             reFormat("MAC address prefix", `(?i:[a-f0-9][02468ace](?::[a-f0-9]{2}){0,2}(?::[a-f0-9]?)?)`, "one to three octets of a unicast MAC address, optionally followed by one more hex digit, such as BC:24:11 or BC:24:11:0"),
	"ipv4":                   ipFormat(4),
	"ipv6":                   ipFormat(6),
	"ip":                     ipFormat(0),
	"address":                ipFormat(0),
	"CIDR":                   cidrFormat(0),
	"CIDRv4":                 cidrFormat(4),
	"CIDRv6":                 cidrFormat(6),
	"IPorCIDR":               checkIPorCIDR,
	"ipv4mask":               checkIPv4Mask,
	"disk-size":              checkDiskSize,
	"dns-name":               reFormat("DNS name", `(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*`, "a DNS name"),
	"email":                  checkEmail,
	"email-opt":              optional(checkEmail),
	"email-or-username":      checkEmailOrUser,
	"urlencoded":             reFormat("URL-encoded value", `[-%a-zA-Z0-9_.!~*'()]*`, "URL-encoded text"),
	"pem-string":             checkPEM,
	"pem-certificate":        checkPEM,
	"string":                 func(string) error { return nil },
}

var checkEmail = reFormat("e-mail address", `[\w+\-~]+(?:\.[\w+\-~]+)*@[a-zA-Z0-9\-]+(?:\.[a-zA-Z0-9\-]+)*`, "an e-mail address")

// HasFormat reports whether name is a registered format (or a list of one).
func HasFormat(name string) bool {
	_, ok := lookupFormat(name)
	return ok
}

// FormatNames lists the registered formats.
func FormatNames() []string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	return names
}

// CheckFormat validates v against the named format.
func CheckFormat(name, v string) error {
	f, ok := lookupFormat(name)
	if !ok {
		return fmt.Errorf("unknown format %q", name)
	}
	return f(v)
}

func lookupFormat(name string) (format, bool) {
	if f, ok := formats[name]; ok {
		return f, true
	}
	if base, ok := strings.CutSuffix(name, "-list"); ok {
		if f, ok := formats[base]; ok {
			return listOf(f), true
		}
	}
	return nil, false
}

// SplitList splits a list value the way Proxmox VE does: at commas,
// semicolons and white space, ignoring empty items.
func SplitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == 0
	})
}

func listOf(f format) format {
	return func(v string) error {
		for _, item := range SplitList(v) {
			if err := f(item); err != nil {
				return fmt.Errorf("list item %q: %w", item, err)
			}
		}
		return nil
	}
}

func optional(f format) format {
	return func(v string) error {
		if v == "" {
			return nil
		}
		return f(v)
	}
}

func reFormat(noun, pattern, what string) format {
	re := regexp.MustCompile(`^(?:` + pattern + `)$`)
	return func(v string) error {
		if !re.MatchString(v) {
			return fmt.Errorf("%q is not a valid %s: expected %s", v, noun, what)
		}
		return nil
	}
}

func enumFormat(values ...string) format {
	return func(v string) error {
		for _, e := range values {
			if v == e {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of: %s", v, strings.Join(values, ", "))
	}
}

// VMIDMin and VMIDMax bound guest ids, as in Proxmox VE.
const (
	VMIDMin = 100
	VMIDMax = 999999999
)

func checkVMID(v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < VMIDMin || n > VMIDMax {
		return fmt.Errorf("%q is not a guest id: expected an integer from %d to %d", v, VMIDMin, VMIDMax)
	}
	return nil
}

var (
	realmRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.\-_]{1,31}$`)
	tokenRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.\-_]+$`)
)

// MaxUserIDLen bounds a whole user id, name and realm, in characters.
const MaxUserIDLen = 64

// checkUserID accepts user@realm; the user part may itself contain '@'
// (LDAP users are often e-mail addresses), so the realm follows the last
// '@'. The name may not hold white space or control characters, ':' (the
// field separator of user.cfg), '/' (the API path separator), or ',' and
// ';' (they would split member lists in user.cfg; Proxmox VE admits them,
// but such a user could never be put in a group).
func checkUserID(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("user id %q is not valid UTF-8", v)
	}
	if utf8.RuneCountInString(v) > MaxUserIDLen {
		return fmt.Errorf("user id %q is too long: at most %d characters", v, MaxUserIDLen)
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 {
		return fmt.Errorf("%q is not a user id: expected <user>@<realm>", v)
	}
	for _, c := range v[:at] {
		if unicode.IsSpace(c) || unicode.IsControl(c) || strings.ContainsRune(":/,;", c) {
			return fmt.Errorf("user id %q: the user name may not contain white space, control characters, ':', '/', ',' or ';'", v)
		}
	}
	if !realmRE.MatchString(v[at+1:]) {
		return fmt.Errorf("user id %q: %q is not a valid realm name", v, v[at+1:])
	}
	return nil
}

func checkRealm(v string) error {
	if !realmRE.MatchString(v) {
		return fmt.Errorf("%q is not a valid realm name: 2 to 32 characters, a letter, then letters, digits, '.', '-' or '_'", v)
	}
	return nil
}

// checkTokenID accepts a full token id, <user>@<realm>!<token>.
func checkTokenID(v string) error {
	bang := strings.LastIndexByte(v, '!')
	if bang < 0 {
		return fmt.Errorf("%q is not a token id: expected <user>@<realm>!<token>", v)
	}
	if err := checkUserID(v[:bang]); err != nil {
		return err
	}
	return checkTokenName(v[bang+1:])
}

// checkTokenName accepts the name part of a token id.
func checkTokenName(v string) error {
	if !tokenRE.MatchString(v) {
		return fmt.Errorf("token name %q is not valid: a letter, then letters, digits, '.', '-' or '_'", v)
	}
	return nil
}

var volumeIDRE = regexp.MustCompile(`^(?i:[a-z][a-z0-9._-]*[a-z0-9]):(.+)$`)

func checkVolumeID(v string) error {
	m := volumeIDRE.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("%q is not a volume id: expected <storage>:<volume>", v)
	}
	return checkNoTraversal(m[1])
}

func checkAbsPath(v string) error {
	if !strings.HasPrefix(v, "/") {
		return fmt.Errorf("%q is not an absolute path", v)
	}
	if strings.ContainsAny(v, ";()\x00") {
		return fmt.Errorf("path %q contains a forbidden character (';', '(', ')')", v)
	}
	return checkNoTraversal(v)
}

// checkNoTraversal refuses ".." path elements.
func checkNoTraversal(v string) error {
	for _, part := range strings.Split(v, "/") {
		if part == ".." {
			return fmt.Errorf("%q must not contain '..' path elements", v)
		}
	}
	return nil
}

// checkUPIDShape checks the outline of a task id; the task package parses
// it fully. Keeping a cheap check here lets the schema refuse junk (and
// path traversal attempts) before any handler sees it.
var upidRE = regexp.MustCompile(`^UPID:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,9}:[0-9A-Fa-f]{8}:[^:\s/]+:[^:\s/]*:[^:\s/]+:$`)

func checkUPIDShape(v string) error {
	if !upidRE.MatchString(v) {
		return fmt.Errorf("%q is not a task id (UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:)", v)
	}
	return nil
}

var macRE = regexp.MustCompile(`^(?i:[a-f0-9]{2}(?::[a-f0-9]{2}){5})$`)

func checkMAC(v string) error {
	if !macRE.MatchString(v) {
		return fmt.Errorf("%q is not a MAC address: expected six ':'-separated hex octets", v)
	}
	first, _ := strconv.ParseUint(v[:2], 16, 8)
	if first&1 == 1 {
		return fmt.Errorf("MAC address %q is a multicast address; a unicast address is required", v)
	}
	return nil
}

func ipFormat(family int) format {
	return func(v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is not %s", v, familyName(family, "an IP address"))
		}
		if (family == 4 && !a.Is4()) || (family == 6 && !a.Is6()) {
			return fmt.Errorf("%q is not %s", v, familyName(family, "an IP address"))
		}
		return nil
	}
}

func cidrFormat(family int) format {
	return func(v string) error {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return fmt.Errorf("%q is not %s", v, familyName(family, "a network in CIDR notation (address/prefix)"))
		}
		if (family == 4 && !p.Addr().Is4()) || (family == 6 && !p.Addr().Is6()) {
			return fmt.Errorf("%q is not %s", v, familyName(family, "a network in CIDR notation (address/prefix)"))
		}
		return nil
	}
}

func familyName(family int, what string) string {
	switch family {
	case 4:
		return what + " (IPv4)"
	case 6:
		return what + " (IPv6)"
	}
	return what
}

func checkIPorCIDR(v string) error {
	if strings.Contains(v, "/") {
		return cidrFormat(0)(v)
	}
	return ipFormat(0)(v)
}

func checkIPv4Mask(v string) error {
	ip := net.ParseIP(v).To4()
	if ip == nil {
		return fmt.Errorf("%q is not an IPv4 netmask", v)
	}
	ones, bits := net.IPMask(ip).Size()
	if ones == 0 && bits == 0 {
		return fmt.Errorf("%q is not a contiguous IPv4 netmask", v)
	}
	return nil
}

var diskSizeRE = regexp.MustCompile(`^(\d+(?:\.\d+)?)([KMGT])?$`)

func checkDiskSize(v string) error {
	if _, err := ParseSize(v); err != nil {
		return err
	}
	return nil
}

// ParseSize converts a disk size such as "32G", "512M" or "1.5T" to bytes.
// A bare number means bytes, as in Proxmox VE's disk-size format.
func ParseSize(v string) (int64, error) {
	m := diskSizeRE.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: expected a number with an optional unit K, M, G or T", v)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %v", v, err)
	}
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m[2]]
	bytes := n * mult
	if bytes > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", v)
	}
	return int64(bytes), nil
}

func checkEmailOrUser(v string) error {
	if checkEmail(v) == nil || checkUserID(v) == nil {
		return nil
	}
	return fmt.Errorf("%q is neither an e-mail address nor a user id", v)
}

func checkPEM(v string) error {
	if !strings.Contains(v, "-----BEGIN ") {
		return fmt.Errorf("value is not PEM-encoded (no '-----BEGIN' line)")
	}
	return nil
}

var checkContent = enumFormat("images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none")

var dnsNameRE = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)

// checkStorageServer accepts a host name or an IP address (IPv6 with or
// without brackets), as storage servers are named.
func checkStorageServer(v string) error {
	h := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	if _, err := netip.ParseAddr(h); err == nil || dnsNameRE.MatchString(v) {
		return nil
	}
	return fmt.Errorf("%q is not a server: expected a DNS name or an IP address", v)
}

// checkPortal accepts host[:port], with IPv6 addresses in brackets.
func checkPortal(v string) error {
	host, port := v, ""
	if strings.HasPrefix(v, "[") {
		end := strings.Index(v, "]")
		if end < 0 {
			return fmt.Errorf("%q is not a portal: missing ']' after the IPv6 address", v)
		}
		host, port = v[1:end], strings.TrimPrefix(v[end+1:], ":")
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q is not a portal: %q is not an IPv6 address", v, host)
		}
	} else if h, p, ok := strings.Cut(v, ":"); ok {
		host, port = h, p
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q is not a portal: port %q must be 1-65535", v, port)
		}
	}
	if strings.HasPrefix(v, "[") {
		return nil
	}
	return checkStorageServer(host)
}

// checkDirOverride accepts <content>=<relative path>, the content-dirs
// entries of file storages.
func checkDirOverride(v string) error {
	c, dir, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("%q is not a directory override: expected <content type>=<path>", v)
	}
	if err := checkContent(c); err != nil {
		return fmt.Errorf("directory override %q: %w", v, err)
	}
	if err := checkNoTraversal(dir); err != nil || dir == "" {
		return fmt.Errorf("directory override %q: the path must be non-empty and must not contain '..'", v)
	}
	return nil
}
