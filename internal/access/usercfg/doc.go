// Package usercfg reads and writes user.cfg, the cluster-wide file that
// holds users, API tokens, groups, resource pools, custom roles and the
// access control list, in the exact line format Proxmox VE uses so that a
// file can move between the two systems unchanged. Parse is forgiving (a
// bad line costs that line, with a warning, never the whole file) because a
// broken user.cfg must not lock every administrator out; Bytes writes the
// canonical, sorted form. The package also owns the identifier rules
// (user, realm, token, group, role, pool ids and ACL paths) that the API
// reuses, and small mutation helpers that keep cross references (group
// members, ACL subjects) consistent. It works on bytes and values only.
package usercfg
