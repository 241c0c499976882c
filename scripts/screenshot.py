"""Screenshot a glimpse report for the README:  python scripts/screenshot.py REPORT_DIR OUT.png"""

import sys
from pathlib import Path

from glimpse.viz.browser import check_page, headless

report, out = Path(sys.argv[1]), Path(sys.argv[2])
with headless(width=1280, height=int(sys.argv[3]) if len(sys.argv) > 3 else 1600) as driver:
    page = check_page(driver, report / "index.html")
    broken = [src for src, w in page["images"] if not w]
    print(f"{len(page['images'])} images, {len(broken)} broken, {len(page['errors'])} console errors")
    driver.save_screenshot(str(out))
print(out)
