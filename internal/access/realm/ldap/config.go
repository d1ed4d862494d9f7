package ldap

import (
	"crypto/tls"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// Realm types and connection modes as written in domains.cfg.
const (
	TypeLDAP = "ldap"
	TypeAD   = "ad"

	ModeLDAP     = "ldap"
	ModeLDAPS    = "ldaps"
	ModeStartTLS = "ldap+starttls"
)

// DefaultTimeout bounds each dial and each request when Config.Timeout is 0,
// so that a directory that stops answering cannot hang a login forever.
const DefaultTimeout = 10 * time.Second

// Defaults Proxmox VE uses when a realm leaves the class lists or the AD
// user attribute unset.
var (
	defaultUserClasses  = []string{"inetorgperson", "posixaccount", "person", "user"}
	defaultGroupClasses = []string{"groupOfNames", "group", "univentionGroup", "ipausergroup"}
)

const defaultADUserAttr = "sAMAccountName"

// syncFields are the user.cfg fields a sync can fill, each from the
// directory attribute of the same name unless sync_attributes maps it.
var syncFields = []string{"firstname", "lastname", "email", "comment", "keys", "expire"}

// SyncFields returns the user.cfg fields a sync can fill, the keys
// sync_attributes accepts.
func SyncFields() []string { return slices.Clone(syncFields) }

// Config is one LDAP or AD realm.
type Config struct {
	Realm string
	Type  string // TypeLDAP or TypeAD
	// Servers holds server1 and, if set, server2; later ones are tried
	// only when the earlier ones cannot be reached.
	Servers []string
	Port    int // 0: the default port of the mode
	Mode    string
	// Verify checks the server certificate against CAPath (a PEM file or
	// a directory of them; empty means the system roots).
	Verify                bool
	CAPath                string
	CertPath, CertKeyPath string // client certificate, both or neither
	// TLSVersion pins the TLS version (sslversion); 0 leaves it to Go.
	TLSVersion uint16

	BaseDN   string
	UserAttr string
	BindDN   string
	Password string // bind password, from priv/realm/<realm>.pw
	// Filter narrows the users of the realm (always in parentheses here).
	Filter      string
	UserClasses []string

	GroupDN       string // empty: BaseDN
	GroupFilter   string
	GroupNameAttr string // empty: the first RDN value of the group's DN
	GroupClasses  []string

	// SyncAttributes maps a user.cfg field (see SyncFields) to the
	// directory attribute it is filled from.
	SyncAttributes map[string]string
	SyncDefaults   SyncOptions

	Domain        string // AD: the domain appended to user names for the bind
	CaseSensitive bool
	Timeout       time.Duration
}

// Attribute names end up unescaped in filters, so they are held to the
// RFC 4512 forms: a descriptor or a numeric OID.
var attrRE = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)$`)

var tlsVersions = map[string]uint16{
	"tlsv1":   tls.VersionTLS10,
	"tlsv1_1": tls.VersionTLS11,
	"tlsv1_2": tls.VersionTLS12,
	"tlsv1_3": tls.VersionTLS13,
}

// ParseConfig reads the section of an "ldap" or "ad" realm. bindPassword
// is the content of the realm's password file (empty when there is none).
// Keys other realm types or the realm layer handle (comment, default,
// tfa) are ignored; domains.cfg parsing rejects unknown ones.
func ParseConfig(sec sectioncfg.Section, bindPassword string) (*Config, error) {
	c := &Config{
		Realm:         sec.ID,
		Type:          sec.Type,
		Mode:          ModeLDAP,
		CaseSensitive: true,
		Password:      bindPassword,
		Timeout:       DefaultTimeout,
		SyncDefaults:  SyncOptions{EnableNew: true},
	}
	if c.Type != TypeLDAP && c.Type != TypeAD {
		return nil, fmt.Errorf("realm %s: type %q is not an LDAP realm (want %q or %q)", sec.ID, sec.Type, TypeLDAP, TypeAD)
	}
	p := parser{sec: &sec}
	c.Servers = append(c.Servers, p.server("server1", true))
	if s := p.server("server2", false); s != "" {
		c.Servers = append(c.Servers, s)
	}
	c.Port = p.port()
	c.Mode = p.mode()
	c.Verify = p.boolean("verify", false)
	c.CAPath = p.str("capath")
	c.CertPath = p.str("cert")
	c.CertKeyPath = p.str("certkey")
	if (c.CertPath == "") != (c.CertKeyPath == "") {
		p.fail("cert", "cert and certkey must be given together")
	}
	if v, ok := sec.Get("sslversion"); ok {
		if c.TLSVersion, ok = tlsVersions[v]; !ok {
			p.fail("sslversion", fmt.Sprintf("%q is not one of tlsv1, tlsv1_1, tlsv1_2, tlsv1_3", v))
		}
	}
	c.Domain = p.str("domain")
	if c.Type == TypeAD {
		if c.Domain == "" {
			p.fail("domain", "required for an Active Directory realm")
		} else if strings.ContainsAny(c.Domain, " \t@,=/") {
			p.fail("domain", fmt.Sprintf("%q is not a DNS domain name", c.Domain))
		}
	}
	c.BaseDN = p.dn("base_dn", c.Type == TypeLDAP)
	if c.BaseDN == "" && c.Type == TypeAD && c.Domain != "" {
		// An AD domain's naming context follows from its DNS name, so a
		// sync works without base_dn, as the login does.
		c.BaseDN = domainToDN(c.Domain)
	}
	c.UserAttr = p.attr("user_attr", c.Type == TypeLDAP)
	if c.UserAttr == "" {
		c.UserAttr = defaultADUserAttr
	}
	c.BindDN = p.dn("bind_dn", false)
	c.Filter = p.filter("filter")
	c.UserClasses = p.classes("user_classes", defaultUserClasses)
	c.GroupDN = p.dn("group_dn", false)
	c.GroupFilter = p.filter("group_filter")
	c.GroupNameAttr = p.attr("group_name_attr", false)
	c.GroupClasses = p.classes("group_classes", defaultGroupClasses)
	c.SyncAttributes = p.syncAttributes()
	if v, ok := sec.Get("sync-defaults-options"); ok {
		o, err := ParseSyncOptions(v)
		if err != nil {
			p.fail("sync-defaults-options", err.Error())
		}
		c.SyncDefaults = o
	}
	c.CaseSensitive = p.boolean("case-sensitive", true)
	if p.err != nil {
		return nil, fmt.Errorf("realm %s: %w", sec.ID, p.err)
	}
	return c, nil
}

// parser keeps the first error so that ParseConfig reads as a list of keys.
type parser struct {
	sec *sectioncfg.Section
	err error
}

func (p *parser) fail(key, msg string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %s", key, msg)
	}
}

func (p *parser) str(key string) string {
	v, _ := p.sec.Get(key)
	return v
}

func (p *parser) server(key string, required bool) string {
	v, ok := p.sec.Get(key)
	if !ok || v == "" {
		if required {
			p.fail(key, "required: the host name or address of the directory server")
		}
		return ""
	}
	host := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	// The value becomes the host part of an ldap:// URL; anything that
	// could start a port, path or user part there is refused.
	if host == "" || strings.ContainsAny(host, " \t/?#@[]\\") {
		p.fail(key, fmt.Sprintf("%q is not a host name or IP address", v))
		return ""
	}
	return host
}

func (p *parser) port() int {
	v, ok := p.sec.Get("port")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		p.fail("port", fmt.Sprintf("%q is not a port number (1-65535)", v))
		return 0
	}
	return n
}

func (p *parser) mode() string {
	if v, ok := p.sec.Get("mode"); ok {
		switch v {
		case ModeLDAP, ModeLDAPS, ModeStartTLS:
			return v
		}
		p.fail("mode", fmt.Sprintf("%q is not one of ldap, ldaps, ldap+starttls", v))
		return ModeLDAP
	}
	// "secure" predates "mode"; mode wins when both are present.
	if p.boolean("secure", false) {
		return ModeLDAPS
	}
	return ModeLDAP
}

func (p *parser) boolean(key string, def bool) bool {
	v, ok := p.sec.Get(key)
	if !ok {
		return def
	}
	b, err := parseBool(v)
	if err != nil {
		p.fail(key, err.Error())
	}
	return b
}

// parseBool accepts the spellings of a boolean the Proxmox VE schema does.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "yes", "on", "true":
		return true, nil
	case "0", "no", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1 or 0)", v)
}

func (p *parser) dn(key string, required bool) string {
	v, ok := p.sec.Get(key)
	if !ok || v == "" {
		if required {
			p.fail(key, "required: a distinguished name such as ou=people,dc=example,dc=com")
		}
		return ""
	}
	if _, err := ldap.ParseDN(v); err != nil {
		p.fail(key, fmt.Sprintf("%q is not a distinguished name: %v", v, err))
	}
	return v
}

func (p *parser) attr(key string, required bool) string {
	v, ok := p.sec.Get(key)
	if !ok || v == "" {
		if required {
			p.fail(key, "required: the attribute that holds the user name, such as uid")
		}
		return ""
	}
	if !attrRE.MatchString(v) {
		p.fail(key, fmt.Sprintf("%q is not an attribute name (letters, digits and '-', or an OID)", v))
	}
	return v
}

// filter checks a search filter and puts it in parentheses, which
// Proxmox VE lets users leave out.
func (p *parser) filter(key string) string {
	v := strings.TrimSpace(p.str(key))
	if v == "" {
		return ""
	}
	if !strings.HasPrefix(v, "(") {
		v = "(" + v + ")"
	}
	if _, err := ldap.CompileFilter(v); err != nil {
		p.fail(key, fmt.Sprintf("%q is not an LDAP filter: %v", v, err))
	}
	return v
}

func (p *parser) classes(key string, def []string) []string {
	v, ok := p.sec.Get(key)
	if !ok {
		return slices.Clone(def)
	}
	list := splitList(v)
	if len(list) == 0 {
		p.fail(key, "empty list of object classes")
	}
	for _, c := range list {
		if !attrRE.MatchString(c) {
			p.fail(key, fmt.Sprintf("%q is not an object class name", c))
		}
	}
	return list
}

// splitList splits at commas, semicolons and white space, as Proxmox VE
// does for its list options.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' })
}

func (p *parser) syncAttributes() map[string]string {
	out := map[string]string{}
	v, ok := p.sec.Get("sync_attributes")
	if !ok {
		return out
	}
	for _, pair := range strings.Split(v, ",") {
		field, attr, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok:
			p.fail("sync_attributes", fmt.Sprintf("%q is not field=attribute", pair))
		case !slices.Contains(syncFields, field):
			p.fail("sync_attributes", fmt.Sprintf("unknown field %q (want one of %s)", field, strings.Join(syncFields, ", ")))
		case !attrRE.MatchString(attr):
			p.fail("sync_attributes", fmt.Sprintf("%q is not an attribute name", attr))
		case out[field] != "":
			p.fail("sync_attributes", fmt.Sprintf("field %q mapped twice", field))
		default:
			out[field] = attr
		}
	}
	return out
}

// domainToDN turns "ad.example.com" into "dc=ad,dc=example,dc=com".
func domainToDN(domain string) string {
	parts := strings.Split(strings.Trim(domain, "."), ".")
	for i, part := range parts {
		parts[i] = "dc=" + ldap.EscapeDN(part)
	}
	return strings.Join(parts, ",")
}
