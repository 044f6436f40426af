#!/bin/sh
# The test suite compiled, as npm test runs it: src/, test/ and scripts/ into
# .test-build/, type-checked as they compile. The test processes then load
# plain JavaScript: through tsx's loader hooks each of the forty spent half a
# second of CPU importing. `node --import tsx --test test/X.test.ts` still
# runs one file from its sources.
set -eu
cd "$(dirname "$0")/.."
rm -rf .test-build
node_modules/.bin/tsc -p . --outDir .test-build
# What the compiled modules read beside them: the version, the console's assets.
cp package.json .test-build/
cp -R src/http/console/assets .test-build/src/http/console/
