// Package datacenter reads and writes datacenter.cfg, the cluster-wide
// file of datacenter options (default console and keyboard, migration and
// replication networks, bandwidth limits, the range of proposed guest ids,
// the MAC prefix, tag rules, HA and scheduler settings, ...), and serves GET
// and PUT /cluster/options on top of the cluster file system. The file is
// kept in the form Proxmox VE writes: notes as leading comment lines, a
// blank line, then "option: value" lines sorted by name, property strings
// printed canonically, so a file written by Proxmox VE reads and writes back
// byte for byte. Parse is forgiving (a bad line costs that line, with a
// warning) because every node reads the file and one typo must not take the
// whole datacenter configuration with it; Set is strict, so the API never
// writes a value Parse would later drop. The option schemas themselves are
// declared once, in api.DatacenterOptions.
package datacenter
