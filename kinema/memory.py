"""Peak resident memory of this process, resettable (Linux: /proc/self)."""

from __future__ import annotations


def reset_peak_rss() -> None:
    """Start a new peak: the kernel resets VmHWM to the current RSS on writing 5."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def peak_rss_bytes() -> int:
    """The largest resident set size since the start or the last `reset_peak_rss`."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib * 1024
