package cloudinit

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Files maps the path of each file on the drive ("user-data",
// "openstack/latest/user_data", ...) to its contents.
type Files map[string]string

// Names lists the paths in sorted order.
func (f Files) Names() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// maxDataSize keeps the files well inside the 4 MiB volume Proxmox VE
// allocates for a cloud-init drive, leaving room for the ISO's overhead.
const maxDataSize = 3 << 20

// Generate builds the files of the drive in the layout the Spec asks for.
// Custom snippets replace the matching generated file; the OpenNebula
// layout has a single file and, as in Proxmox VE, takes no snippets.
func Generate(s Spec) (Files, error) {
	p, err := s.plan()
	if err != nil {
		return nil, err
	}
	custom := func(kind string, gen func() string) string {
		if v, ok := p.custom[kind]; ok {
			return v
		}
		return gen()
	}
	var files Files
	switch p.format {
	case NoCloud:
		user := custom("user", func() string { return userData(p) })
		network := custom("network", func() string { return noCloudNetwork(p) })
		meta := custom("meta", func() string { return noCloudMeta(instanceID(user, network), p.host) })
		files = Files{"user-data": user, "network-config": network, "meta-data": meta}
		if v, ok := p.custom["vendor"]; ok {
			files["vendor-data"] = v
		}
	case ConfigDrive2:
		user := custom("user", func() string { return userData(p) })
		network := custom("network", func() string { return configDriveENI(p) })
		// The guest prefers network_data.json to the interfaces file, so
		// it is left out when a custom network file replaces the latter.
		var networkJSON string
		if _, ok := p.custom["network"]; !ok {
			networkJSON = configDriveNetworkData(p)
		}
		meta := custom("meta", func() string { return configDriveMeta(p, configDriveID(p, user, network, networkJSON)) })
		files = Files{
			"openstack/latest/user_data":      user,
			"openstack/latest/meta_data.json": meta,
			"openstack/content/0000":          network,
		}
		if networkJSON != "" {
			files["openstack/latest/network_data.json"] = networkJSON
		}
		if v, ok := p.custom["vendor"]; ok {
			files["openstack/latest/vendor_data.json"] = v
		}
	case OpenNebula:
		files = Files{"context.sh": openNebulaContext(p)}
	}
	total := 0
	for _, c := range files {
		total += len(c)
	}
	if total > maxDataSize {
		return nil, fmt.Errorf("cloud-init files are %d bytes together; at most %d (3 MiB) fit on the drive", total, maxDataSize)
	}
	return files, nil
}

// Dump returns the generated user, network or meta configuration, ignoring
// custom snippets, as a starting point for writing one. Like Proxmox VE,
// every layout other than nocloud dumps the ConfigDrive2 forms.
func Dump(s Spec, kind string) (string, error) {
	s.Custom = nil
	p, err := s.plan()
	if err != nil {
		return "", err
	}
	user := userData(p)
	var network string
	if p.format == NoCloud {
		network = noCloudNetwork(p)
	} else {
		network = configDriveENI(p)
	}
	switch kind {
	case "user":
		return user, nil
	case "network":
		return network, nil
	case "meta":
		if p.format == NoCloud {
			return noCloudMeta(instanceID(user, network), p.host), nil
		}
		return configDriveMeta(p, configDriveID(p, user, network, configDriveNetworkData(p))), nil
	}
	return "", fmt.Errorf("cloud-init dump type %q is not known; allowed: user, network, meta", kind)
}

// instanceID hashes the contents the guest applies, so that it changes
// exactly when they do (the same digest Proxmox VE uses).
func instanceID(parts ...string) string {
	h := sha1.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// configDriveID covers both network files and, for cloudbase-init, the
// settings that travel in meta_data.json instead of the user data.
func configDriveID(p *plan, user, network, networkJSON string) string {
	if !p.windows {
		return instanceID(user, network, networkJSON)
	}
	return instanceID(user, network, networkJSON, p.host, "\x00", p.user, "\x00", p.password, "\x00", strings.Join(p.keys, "\n"))
}
