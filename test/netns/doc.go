// Package netns builds a throw-away lab of "hosts" for process-level cluster
// tests: each Host is a Linux network namespace with its own IPv4 address,
// attached by a veth pair to a private switch (a bridge inside one more
// namespace), so real processes such as the hearth binary can run on several
// addresses of one machine, be isolated (Cut/Restore) or separated from
// selected peers (Block, Partition, Heal via nftables in the switch), and be
// reached from the test's own namespace through Lab.Dial and Lab.HTTPClient.
// Nothing is ever added to the machine's own network namespace; every
// namespace, link and process of a lab is removed in t.Cleanup, and New skips
// the test unless it runs as root with iproute2 (`ip`) and nftables (`nft`).
package netns
