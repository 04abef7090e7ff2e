"""The process's limit on open files: the store keeps Parquet files open (each holds a
descriptor), so the program lifts the soft limit at start and the store keeps a share of it."""

from __future__ import annotations

OPEN_FILES_PER_THREAD = 2048  # at most; never more than a quarter of the process's file limit


def open_files_cap() -> int:
    """Open Parquet files a thread keeps (each holds a descriptor): a quarter of the soft limit
    on open files (1024 on many Linux systems, 256 on macOS), so two threads stay well clear."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 128
    if soft == resource.RLIM_INFINITY:
        return OPEN_FILES_PER_THREAD
    return max(2, min(OPEN_FILES_PER_THREAD, soft // 4))


def raise_open_files_limit(want: int = 8192) -> None:
    """Lift the soft limit on open files towards ``want`` (never above the hard limit), so a
    session of hundreds of symbols keeps its files open. Called once by the program."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, OSError, ValueError):
        return  # the limit stays as it is; the store keeps fewer files open
