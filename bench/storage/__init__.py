"""Helpers of bench/storage_throughput.py: the raw limits (disk, loopback HTTP), the HTTP client that streams files
from disk, the transfer paths (one small function pair per path), the servers it starts and the report."""
