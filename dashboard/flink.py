"""The Flink cluster's state, read from its REST API (`/overview`, `/jobs/overview`).

Read directly over HTTP rather than through `jobs.cluster`, because services never import each
other. A cluster that does not answer is reported as down, never as an error of the dashboard.
"""

from __future__ import annotations

import asyncio

import aiohttp


async def _get(session: aiohttp.ClientSession, url: str, timeout: float) -> dict | None:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if resp.status != 200:
                return None
            return await resp.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError):
        return None


async def flink_status(session: aiohttp.ClientSession, base_url: str,
                       timeout: float = 1.5) -> dict:
    """{"url", "up", "taskmanagers", "slots_available", "jobs": [{id, name, state, ...}]}."""
    base = base_url.rstrip("/")
    overview, jobs = await asyncio.gather(_get(session, base + "/overview", timeout),
                                          _get(session, base + "/jobs/overview", timeout))
    listed = [{"id": j.get("jid"), "name": j.get("name"), "state": j.get("state"),
               "start_time": j.get("start-time"), "duration_ms": j.get("duration")}
              for j in (jobs or {}).get("jobs", []) if isinstance(j, dict)]
    # Running jobs first, then the most recent: the page shows the first one prominently.
    listed.sort(key=lambda j: (j["state"] != "RUNNING", -(j["start_time"] or 0)))
    return {"url": base, "up": overview is not None,
            "taskmanagers": (overview or {}).get("taskmanagers", 0),
            "slots_available": (overview or {}).get("slots-available", 0),
            "jobs": listed[:10]}
