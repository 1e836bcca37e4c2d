"""The benchmark's table (markdown, for the README) and its JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .limits import Limits


@dataclass(frozen=True)
class Row:
    backend: str
    path: str
    size_mb: float
    upload_mbps: float
    download_mbps: float
    rss_growth_mib: float  # the serving process's peak over upload + download, minus its RSS before
    limits: Limits

    @property
    def upload_ratio(self) -> float:
        """Against the slower of the two limits an upload is bound by: it crosses loopback and is written to disk."""
        return self.upload_mbps / min(self.limits.disk_write, self.limits.loopback_up)

    @property
    def download_ratio(self) -> float:
        return self.download_mbps / min(self.limits.disk_read, self.limits.loopback_down)


def table(rows: list[Row]) -> str:
    head = (
        "| backend | path | size | upload MB/s | download MB/s | peak RSS growth MiB | disk write / read MB/s "
        "| loopback up / down MB/s | upload / limit | download / limit |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    lines = [
        f"| {r.backend} | {r.path} | {r.size_mb:g} MB | {r.upload_mbps:.0f} | {r.download_mbps:.0f} "
        f"| {r.rss_growth_mib:.1f} | {r.limits.disk_write:.0f} / {r.limits.disk_read:.0f} "
        f"| {r.limits.loopback_up:.0f} / {r.limits.loopback_down:.0f} "
        f"| {r.upload_ratio:.2f} | {r.download_ratio:.2f} |"
        for r in rows
    ]
    return head + "\n".join(lines)


def as_json(rows: list[Row], meta: dict) -> str:
    return json.dumps(
        {
            "meta": meta,
            "rows": [
                {**asdict(r), "upload_ratio": r.upload_ratio, "download_ratio": r.download_ratio}
                for r in rows
            ],
        },
        indent=2,
    )
