"""Open a report in headless Chromium (Debian's chromium + chromium-driver, via Selenium) and
check it as a person would see it: every image and animation decoded, no console errors.

Used by the browser test and by ``scripts/screenshot.py``; needs the dev extra ``selenium``.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from glimpse import GlimpseError

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def find_chromium() -> tuple[str, str] | None:
    chrome, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (chrome, driver) if chrome and driver else None


@contextmanager
def headless(width: int = 1280, height: int = 2000):
    found = find_chromium()
    if not found:
        raise GlimpseError("chromium and chromedriver are not installed "
                           "(scripts/ensure-chromium.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = found[0]
        for flag in FLAGS + (f"--window-size={width},{height}", f"--user-data-dir={profile}"):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(found[1]), options=opts)
        try:
            yield driver
        finally:
            driver.quit()


def check_page(driver, page: Path) -> dict:
    """Load ``page`` and wait for its images -> {"images": [(src, naturalWidth)], "errors": [...]}."""
    driver.get(Path(page).resolve().as_uri())
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all(Array.from(document.images).map(i => i.complete ? 0 :
            new Promise(r => { i.onload = i.onerror = r; }))).then(done);""")
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth]);")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return {"images": [tuple(i) for i in images], "errors": errors}
