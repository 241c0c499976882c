#!/usr/bin/env bash
# Headless Chromium + ChromeDriver for the report's browser test (Debian packages).
# Installs them when missing and this user can (root with apt-get); otherwise says so.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver for the browser test ..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  exit $?
fi
echo "note: chromium/chromedriver missing and cannot be installed here (needs root + apt-get);" \
     "the report's browser test will be skipped (set GLIMPSE_REQUIRE_BROWSER=1 to make it fail)"
exit 0
