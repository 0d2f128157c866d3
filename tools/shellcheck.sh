#!/usr/bin/env bash
# Lints every standalone shell script in the repository. Remote steps are linted as they are sent
# (prelude + step) by test/hosts/steps.test.ts; here they are parsed alone for syntax.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
while IFS= read -r -d '' f; do
  case $f in
    ./hosts/*/steps/*.sh|./hosts/steps/*.sh)
      busybox sh -n "$f" || status=1
      ;;
    *)
      shellcheck --external-sources "$f" || status=1
      ;;
  esac
done < <(find . -path ./node_modules -prune -o \( -name '*.sh' -o -path ./.ci/run \) -type f -print0)
exit "$status"
