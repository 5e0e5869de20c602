"""Files a user downloads: metrics as CSV (safe to open in a spreadsheet) or Parquet,
charts as a standalone interactive HTML page or a PNG image.

Task names, labels and column names come from users' own files, so a text cell
may start with "=", "+", "-" or "@" and be run as a formula by a spreadsheet
(CSV injection). Such text cells get a leading apostrophe; numbers are never
touched (-0.5 stays a number).

PNG export renders the figure with plotly.js in a headless Chrome/Chromium driven
by kaleido; kaleido never downloads a browser here, it is given the installed one
(see find_chrome). Starting the browser takes seconds, so one is kept open.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import html
import io
import os
import re
import shutil
import threading

import pandas as pd
import plotly.graph_objects as go

from mtlviz.errors import MtlvizError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with formula-like text cells and column names neutralised: for a CSV, and for every
    table the dashboard shows (its toolbar's "Download as CSV" exports what is shown)."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            out[column] = series.astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes with formula-like text cells (and column names) neutralised."""
    return neutralised(frame).to_csv(index=False).encode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


# --- Charts: interactive HTML and PNG -------------------------------------------------

CHROME_ENV = "MTLVIZ_CHROME"
CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME_FALLBACK = "/usr/bin/chromium"  # Debian's package; its directory is not always on a service's PATH
DEFAULT_HEIGHT = 600
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Seconds for one image, or for starting the browser: a cold start takes about 3 s
# on 2 cores, a render about 0.3 s; past this the browser is assumed stuck.
RENDER_TIMEOUT = 60
CLOSE_TIMEOUT = 15  # choreographer waits up to 9 s before it kills an unresponsive browser


class ExportError(MtlvizError):
    """A chart cannot be exported (no browser for PNG, or rendering failed)."""


def figure_html(figure: go.Figure) -> bytes:
    """A standalone interactive page: plotly.js is embedded, so it opens offline."""
    page = figure.to_html(include_plotlyjs=True, full_html=True)
    title = figure.layout.title.text
    if title:
        # Plotly titles may hold <b>, <br> and the like; a page title is plain text.
        plain = " ".join(re.sub(r"<[^>]*>", " ", title).split())
        page = page.replace("<head>", f"<head>\n    <title>{html.escape(plain)}</title>", 1)
    return page.encode("utf-8")


def figure_png(figure: go.Figure, width: int = 1200, height: int | None = None, scale: float = 2) -> bytes:
    """PNG bytes rendered by a headless Chrome/Chromium; the image is (width * scale) pixels wide.

    `height` defaults to the figure's layout height, else DEFAULT_HEIGHT. Raises
    ExportError when no browser is found, kaleido is missing or rendering fails.
    """
    if height is None:
        height = figure.layout.height or DEFAULT_HEIGHT
    for name, value in (("width", width), ("height", height), ("scale", scale)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100_000:
            raise ExportError(f"PNG {name}: expected a positive number, found {value!r}")
    chrome = find_chrome()
    try:
        import kaleido  # noqa: F401  imported here: only PNG export needs it, and it costs 0.2 s
    except ImportError as error:
        raise ExportError(
            f"PNG export needs the kaleido package, found none ({error}). "
            "Install it (pip install -r requirements.txt); the HTML export works without it."
        ) from None
    opts = {"format": "png", "width": width, "height": height, "scale": scale}
    try:
        image = _BROWSER.render(chrome, figure.to_dict(), opts)
    except Exception as error:
        raise ExportError(f"PNG export failed: expected an image from {chrome}, found {_describe(error)}") from error
    if not isinstance(image, bytes) or not image.startswith(PNG_SIGNATURE):
        raise ExportError(f"PNG export failed: expected PNG bytes from {chrome}, found {repr(image)[:40]}")
    return image


def find_chrome() -> str:
    """The browser PNG export drives: $MTLVIZ_CHROME, else the first of CHROME_NAMES on PATH, else CHROME_FALLBACK."""
    configured = os.environ.get(CHROME_ENV)
    if configured:
        # An explicit choice that does not work is reported, not silently replaced by another browser.
        found = shutil.which(configured)
        if found is None:
            state = "a file that is not executable" if os.path.exists(configured) else "no such executable"
            raise ExportError(
                f"{CHROME_ENV} is set to {configured!r}: expected the path of a Chrome or Chromium executable, "
                f"found {state}. Fix or unset it; the HTML export works without a browser."
            )
        return found
    for name in CHROME_NAMES:
        if found := shutil.which(name):
            return found
    if os.access(CHROME_FALLBACK, os.X_OK) and os.path.isfile(CHROME_FALLBACK):
        return CHROME_FALLBACK
    raise ExportError(
        f"PNG export needs Chrome or Chromium; none found (looked for {', '.join(CHROME_NAMES)} on PATH "
        f"and {CHROME_FALLBACK}). Install one (e.g. apt-get install chromium) or set {CHROME_ENV}; "
        "the HTML export works without it."
    )


class _Browser:
    """One headless Chromium, started on first use and reused by every thread (one render at a time).

    Kaleido's own start_sync_server is not used: its callers share one result queue
    without a lock, and when the browser dies its worker thread ends while callers
    wait forever. Here the browser lives on a private event loop thread, every wait
    has a timeout, and a browser that failed is closed and started afresh.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None  # a kaleido.Kaleido; kaleido is imported lazily
        self._path: str | None = None

    def render(self, path: str, figure: dict, opts: dict) -> bytes:
        with self._lock:
            # A browser kept open may have died since (killed, out of memory): its
            # first failure earns one retry on a fresh browser, a fresh one's does not.
            retry = self._kaleido is not None and self._path == path
            while True:
                if self._kaleido is None or self._path != path:
                    self._close()
                    self._open(path)
                try:
                    return self._wait(self._kaleido.calc_fig(figure, opts=opts), RENDER_TIMEOUT)
                except Exception as error:
                    self._close()
                    if not retry or isinstance(error, TimeoutError):  # a stuck render would only stall again
                        raise
                    retry = False

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self, path: str) -> None:
        import kaleido

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mtlviz-chromium", daemon=True)
        self._thread.start()

        async def start() -> kaleido.Kaleido:
            # mathjax=False: the default loads MathJax from a CDN, and export must work offline.
            # choreographer starts the browser headless with --no-sandbox, which running as root needs.
            browser = kaleido.Kaleido(path=path, mathjax=False, timeout=RENDER_TIMEOUT)
            try:
                await browser.open()
            except BaseException:
                with contextlib.suppress(Exception):
                    await browser.close()  # removes its temporary profile directory
                raise
            return browser

        try:
            self._kaleido = self._wait(start(), RENDER_TIMEOUT)
        except BaseException:
            self._close()
            raise
        self._path = path
        # Registered after the browser made its temporary directories: atexit runs the
        # newest first, so the browser closes (and removes them) before tempfile's cleanup.
        atexit.unregister(self.close)
        atexit.register(self.close)

    def _wait(self, coroutine, timeout: float):
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"expected the browser to answer within {timeout} s, found no answer") from None

    def _close(self) -> None:
        """Close the browser and stop its loop; errors are ignored, the browser is being discarded."""
        if self._loop is not None:
            if self._kaleido is not None:
                with contextlib.suppress(Exception):
                    self._wait(self._kaleido.close(), CLOSE_TIMEOUT)
            with contextlib.suppress(Exception):
                self._wait(_cancel_pending(), CLOSE_TIMEOUT)  # e.g. choreographer's watchdog
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(CLOSE_TIMEOUT)
            if not self._loop.is_running():
                self._loop.close()
        self._kaleido = self._loop = self._thread = self._path = None


async def _cancel_pending() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _describe(error: BaseException) -> str:
    """`Type: message`; choreographer passes several strings as args, which str() shows as a tuple."""
    text = " ".join(str(arg) for arg in error.args) if error.args else str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_BROWSER = _Browser()
