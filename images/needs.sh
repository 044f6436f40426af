# Sourced by the image scripts: `needs NAME TOOL:PACKAGE|/FILE:PACKAGE ...` checks every
# tool and file a script needs before it starts, and names each missing one with the
# package it comes from in one apt-get line, so nothing is met missing half an hour in.
needs() {
  local name=$1 need what package missing=() packages=()
  shift
  for need in "$@"; do
    what=${need%%:*} package=${need#*:}
    if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
    missing+=("$what") packages+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$name: missing ${missing[*]}" >&2
  echo "  apt-get install --no-install-recommends $(printf '%s\n' "${packages[@]}" | sort -u | tr '\n' ' ')" >&2
  exit 1
}
