// Package storagetest is the conformance suite every storage plugin
// passes against its real backend: one Run call exercises activation,
// status, allocation and naming rules, listing, sizing, attaching with
// real data, freeing, and each optional capability (snapshots, linked
// clones, renaming, export and import, content directories) that the
// storage implements, so all types behave alike where callers rely on it.
package storagetest
