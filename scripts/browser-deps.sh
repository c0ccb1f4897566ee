#!/usr/bin/env bash
# Installs what the pages' browser tests need, if missing: Debian's chromium (plus a font with Hangul, so Korean
# renders in screenshots), Node.js and npm (Debian's, when the machine has none; playwright-core 1.61 runs on
# Node 18 and later), and tests/browser's npm packages (playwright-core, pinned in its package-lock.json; it
# drives /usr/bin/chromium and never downloads a browser). Safe to run again: cheap when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=(chromium fonts-noto-cjk)
command -v node >/dev/null 2>&1 || extra+=(nodejs)
command -v npm >/dev/null 2>&1 || extra+=(npm)
bash scripts/deps.sh "${extra[@]}"
cd tests/browser
want=$(node -p "require('./package.json').dependencies['playwright-core']")
have=$(node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "browser-deps: npm ci in tests/browser" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
