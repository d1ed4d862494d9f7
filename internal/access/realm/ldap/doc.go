// Package ldap implements the "ldap" and "ad" (Active Directory) realms:
// it reads a realm's section of domains.cfg into a Config, checks user
// passwords by binding to the directory, fetches the users and groups a
// realm sync imports, and applies such a sync to user.cfg the way
// Proxmox VE's "realm sync" does (users become name@realm, groups
// name-realm). Reading the bind password file, locking user.cfg and
// writing it back are the caller's business; this package keeps no state
// and opens one connection per call.
package ldap
