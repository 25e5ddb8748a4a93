# SPDX-License-Identifier: MIT
# Shared by scripts/run, scripts/test and scripts/bench: install what is missing, build.
# Sourced, not executed.

SL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian 12 / Ubuntu package names.  Checked every time; only missing ones are installed.
SL_BUILD_DEPS="build-essential autoconf automake libtool pkg-config
  libevent-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev libinih-dev libssl-dev
  libpcre2-dev libcriterion-dev ca-certificates curl"

sl_say() { printf '==> %s\n' "$*" >&2; }

sl_install() {
    local missing="" p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { sl_say "need root or sudo to install:$missing"; return 1; }
        sudo="sudo"
    fi
    sl_say "installing:$missing"
    $sudo apt-get update -qq >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        $missing >/dev/null || return 1
}

# sl_build DIR [configure args...]: an out-of-tree build in $SL_ROOT/DIR, reconfigured when
# configure.ac or Makefile.am changed.  SL_BUILD_CHECK=1 also builds the test programs.
sl_build() {
    local dir="$SL_ROOT/$1"; shift
    (
        cd "$SL_ROOT" || exit 1
        if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
            sl_say "autoreconf"
            autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }
        fi
        mkdir -p "$dir" && cd "$dir" || exit 1
        if [ ! -f Makefile ] || [ "$SL_ROOT/configure" -nt Makefile ] ||
           [ "$(cat .sl-configure-args 2>/dev/null)" != "$*" ]; then
            sl_say "configure $*"
            "$SL_ROOT/configure" "$@" >configure.out 2>&1 || { cat configure.out; exit 1; }
            printf '%s' "$*" > .sl-configure-args
        fi
        sl_say "make ($(basename "$dir"))"
        make -j"$(nproc)" >make.out 2>&1 || { cat make.out; exit 1; }
        if [ "${SL_BUILD_CHECK:-0}" = 1 ]; then
            make -j"$(nproc)" check TESTS= >>make.out 2>&1 || { cat make.out; exit 1; }
        fi
    )
}
