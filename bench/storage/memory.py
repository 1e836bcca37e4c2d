"""Peak RSS of the serving processes (gunicorn's workers), per transfer: the kernel's high-water mark (VmHWM) is
reset through /proc/<pid>/clear_refs (writing 5, Linux >= 4.0; our own processes only) before a transfer, and the
growth is the new peak minus the RSS at the reset, the largest over the workers (the one that served it)."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class PeakWatch:
    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.base: dict[int, int] = {}

    def reset(self) -> None:
        for pid in self.pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.base[pid] = _status_kib(pid, "VmRSS")

    def growth_mib(self) -> float:
        return max(_status_kib(pid, "VmHWM") - self.base[pid] for pid in self.pids) / 1024

    def peak_mib(self) -> float:
        return max(_status_kib(pid, "VmHWM") for pid in self.pids) / 1024
