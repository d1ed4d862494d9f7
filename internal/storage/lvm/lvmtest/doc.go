// Package lvmtest builds real LVM volume groups on loop devices for
// tests. This machine's kernel has no device-mapper, so lvcreate cannot
// run; instead the logical volumes are written into the group's metadata
// with vgcfgrestore, which gives lvs, vgs and lvremove real volumes to
// report and remove (never to activate).
package lvmtest
