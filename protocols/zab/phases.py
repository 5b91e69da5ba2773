"""Names shared by the roles: timers and the phases after election (discovery, sync, broadcast)."""

from __future__ import annotations

ELECT, FINALIZE, SYNC, TICK, WATCH = "elect", "finalize", "sync", "tick", "watch"
DISCOVERY, SYNCING, BROADCAST = 0, 1, 2
