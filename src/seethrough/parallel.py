"""Run a function over many items in worker processes with a progress bar.

Used by the preprocessing commands (cut, faces, validate) and batch jobs. Results come
back as they finish; an exception inside one item is returned as that item's result
(never raised), so one bad file cannot stop a run over thousands.
"""

from __future__ import annotations

import gc
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


@dataclass
class Outcome:
    item: Any
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _call(fn: Callable, item: Any) -> Outcome:
    try:
        return Outcome(item, fn(item))
    except Exception as exc:  # one item's failure is data, not a crash
        return Outcome(item, error=exc)


def run_parallel(
    fn: Callable[[T], Any],
    items: Iterable[T],
    *,
    workers: int | None = None,
    desc: str = "working",
    progress: bool = True,
    unit: str = "file",
) -> Iterator[Outcome]:
    """Yield an :class:`Outcome` per item, in completion order.

    ``fn`` must be picklable (a module-level function or ``functools.partial``) when
    ``workers > 1``. With ``workers == 1`` everything runs in this process, which keeps
    tracebacks simple and tests fast.
    """
    items = list(items)
    workers = workers or default_workers()
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                out = _call(fn, item)
                bar.update(1)
                yield out
            return
        # Collect decoder objects first: a forked worker that later frees an uncollected
        # PyAV frame would wait forever for decoder threads that do not exist in it.
        gc.collect()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(_call, fn, item) for item in items}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    bar.update(1)
                    yield fut.result()
    finally:
        bar.close()
