"""Batch scanning: analyse every media file of folders or lists once per content, into a
resumable SQLite results store, on local worker processes or a Ray cluster.

``run_scan(["videos/"], ScanConfig(db=Path("results.db"), workers=2))`` returns a
:class:`ScanSummary`; ``export_csv`` / ``export_jsonl`` write a database out. The CLI is
``seethrough scan``.
"""

from .core import ScanConfig, ScanSummary, available_cpus, run_scan, scan_settings
from .export import export_csv, export_jsonl
from .inputs import Inputs, ScanInputError, find_inputs, read_list
from .runner import ScanError
from .store import EXPORT_COLUMNS, ResultStore, StoreError, StoreLockedError
from .types import Job, JobResult, ScanSettings
from .worker import FAULT_ENV, evidence_folder

__all__ = [
    "EXPORT_COLUMNS",
    "FAULT_ENV",
    "Inputs",
    "Job",
    "JobResult",
    "ResultStore",
    "ScanConfig",
    "ScanError",
    "ScanInputError",
    "ScanSettings",
    "ScanSummary",
    "StoreError",
    "StoreLockedError",
    "available_cpus",
    "evidence_folder",
    "export_csv",
    "export_jsonl",
    "find_inputs",
    "read_list",
    "run_scan",
    "scan_settings",
]
