// Package access authenticates users and answers permission questions:
// tickets and CSRF tokens, logins against the realms, API tokens, and the
// permission evaluator built from user.cfg. Sub-packages hold the pure
// pieces: privs (privilege names and built-in roles), usercfg (the
// user.cfg file), perm (permission evaluation), pwhash (crypt(3) hashes)
// and realm/... (one package per realm type).
package access
