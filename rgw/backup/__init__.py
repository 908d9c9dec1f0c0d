"""Backups, restores, rebuilds and drills: bundles of region snapshots, made whole by the journal.

bundle: the on-disk format and its checks; transfer: Qdrant's snapshot API; backup: taking one;
restore: putting one back (or rebuilding from the journal) while routing serves degraded;
drill: proving a restore works; jobs/service/api/cli: running all that from the gateway.
"""
