package cloudinit

import "strings"

// userData is the #cloud-config document: host name, the user with its
// password and SSH keys, and the first-boot package upgrade.
func userData(p *plan) string {
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	if p.windows && p.format == ConfigDrive2 {
		// cloudbase-init takes the host name, user, password and keys
		// from meta_data.json and ignores or chokes on the cloud-init
		// keys below, so its user data stays empty.
		return b.String()
	}
	line := func(k, v string) { b.WriteString(k + ": " + v + "\n") }
	line("hostname", yamlValue(p.host))
	line("manage_etc_hosts", "true")
	if p.fqdn != "" {
		line("fqdn", yamlValue(p.fqdn))
	}
	if p.user != "" {
		line("user", yamlValue(p.user))
		if p.user == "root" {
			// cloud-init locks root logins unless told otherwise.
			line("disable_root", "False")
		}
	}
	if p.password != "" {
		line("password", yamlValue(p.password))
	}
	if len(p.keys) > 0 {
		b.WriteString("ssh_authorized_keys:\n")
		for _, k := range p.keys {
			b.WriteString("  - " + yamlValue(k) + "\n")
		}
	}
	// The password is set by the administrator, not a one-time one.
	b.WriteString("chpasswd:\n  expire: False\n")
	if p.user != "root" {
		// Keep the image's default user; ciuser renames it.
		b.WriteString("users:\n  - default\n")
	}
	if p.upgrade {
		line("package_upgrade", "true")
	}
	return b.String()
}
