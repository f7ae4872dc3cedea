#!/usr/bin/env bash
# A headless Chromium from Debian's packages, project-local and without root: the packages
# pinned in tools/browser/chromium.lock are fetched with `apt-get download` (no install, no
# root), checked against the lock's SHA-256 and unpacked with `dpkg-deb -x` into
# build/chromium/root/. build/chromium/bin/chromium runs the browser with the unpacked
# libraries on LD_LIBRARY_PATH and its own fonts.
#
#   tools/browser/install-chromium.sh          install; does nothing when build/chromium/.stamp
#                                              matches the lock and this script
#   tools/browser/install-chromium.sh --lock   re-pin: write the archive's current versions to the lock
#
# The browser is chromium-headless-shell (Chromium's headless-only build, which Playwright
# and Puppeteer drive for headless runs) plus chromium-common's resources. The `chromium`
# package would add GTK and, through it, dbus and systemd (176 packages instead of 58) for a
# window that is never opened.
#
# The lock lists what chromium-headless-shell needs beyond a minimal Debian 12 (the
# Priority: required packages and their dependencies), resolved by apt against an empty dpkg
# database, so it does not depend on what the machine that wrote it had installed. Packages
# marked `if-missing` are fetched only when dpkg does not list them as installed here;
# `always` ones are always unpacked: the browser, and the fonts, so that a page lays out the
# same on every machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lock="$here/chromium.lock"
dest="$root/build/chromium"
stamp="$dest/.stamp"
always="chromium-headless-shell chromium-common fonts-dejavu-core"
# chromium-common depends on these desktop helpers (xdg-open, xdpyinfo...), which a headless
# render never runs; resolving the lock treats them as present, which keeps Mesa, LLVM and
# 45 more packages (51 MB) out of the closure.
treated_as_present="x11-utils xdg-utils"

log() { printf 'install-chromium: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in apt-get apt-cache dpkg dpkg-deb dpkg-query sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is needed (a Debian or Ubuntu system with apt)"
done
arch="$(dpkg --print-architecture)"
# apt drops privileges to _apt when run as root, and that user cannot write into build/.
apt_opts=(-qq -o "APT::Sandbox::User=$(id -un)")

write_lock() {
    tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
    local pkg ver
    for pkg in $treated_as_present; do
        ver="$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')"
        printf 'Package: %s\nStatus: install ok installed\nVersion: %s\nArchitecture: %s\nMaintainer: none\nDescription: treated as present\n\n' \
            "$pkg" "$ver" "$arch" >>"$tmp/status"
    done
    # The minimal system: every Priority: required or Essential package the archive has.
    apt-cache dumpavail | awk -v RS= '/(^|\n)(Priority: required|Essential: yes)(\n|$)/ {
        match($0, /^Package: [^\n]+/); print substr($0, 10, RLENGTH - 9) }' | sort -u >"$tmp/base"
    [ -s "$tmp/base" ] || die "apt knows no packages: run apt-get update (as root) first"
    resolve() {
        apt-get -s -o "Dir::State::status=$tmp/status" -o APT::Install-Recommends=0 install "$@" |
            sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*\[\([^]]*\)\])$/\1 \2 \3/p' | sort
    }
    local base wanted
    mapfile -t base <"$tmp/base"
    resolve "${base[@]}" >"$tmp/base.inst"
    resolve "${base[@]}" chromium-headless-shell fonts-dejavu-core >"$tmp/all.inst"
    {
        echo "# Debian packages that tools/browser/install-chromium.sh unpacks into build/chromium/:"
        echo "# chromium-headless-shell and what it needs beyond a minimal Debian 12."
        echo "# Regenerate with \`tools/browser/install-chromium.sh --lock\` and commit: Debian's security"
        echo "# archive keeps only the newest chromium, so a pinned version stops downloading once replaced."
        echo "# arch: $arch"
        echo "# package version arch sha256 bytes when"
        mapfile -t wanted < <(comm -13 "$tmp/base.inst" "$tmp/all.inst" | awk '{print $1 "=" $2}')
        # One apt-cache call for every package's checksum and size (one a package took 90 s).
        apt-cache show "${wanted[@]}" | awk -v RS= -v always=" $always " '{
            p = v = a = s = n = ""
            k = split($0, line, "\n")
            for (i = 1; i <= k; i++) {
                if (line[i] ~ /^Package: /) p = substr(line[i], 10)
                else if (line[i] ~ /^Version: /) v = substr(line[i], 10)
                else if (line[i] ~ /^Architecture: /) a = substr(line[i], 15)
                else if (line[i] ~ /^SHA256: /) s = substr(line[i], 9)
                else if (line[i] ~ /^Size: /) n = substr(line[i], 7)
            }
            if (seen[p " " v]++) next
            print p, v, a, s, n, (index(always, " " p " ") ? "always" : "if-missing")
        }' | sort
    } >"$tmp/lock"
    grep -q '^chromium-headless-shell ' "$tmp/lock" || die "apt did not resolve chromium-headless-shell"
    mv "$tmp/lock" "$lock"
    log "wrote ${lock#"$root"/}: $(grep -vc '^#' "$lock") packages, chromium-headless-shell $(awk '$1 == "chromium-headless-shell" {print $2}' "$lock")"
}

if [ "${1:-}" = --lock ]; then write_lock; exit 0; fi
[ $# -eq 0 ] || die "usage: $0 [--lock]"

# fonts.conf names folders by absolute path, so a checkout that moved installs again.
want="$({ cat "$lock" "${BASH_SOURCE[0]}"; echo "$dest"; } | sha256sum | cut -d' ' -f1)"
if [ -x "$dest/bin/chromium" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi

lock_arch="$(sed -n 's/^# arch: //p' "$lock")"
[ "$lock_arch" = "$arch" ] || die "the lock is for $lock_arch, this machine is $arch: run $0 --lock"

installed() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]; }

# What to unpack: the `always` packages, and the rest unless dpkg has them.
mkdir -p "$dest/debs"
rm -f "$dest/debs/SHA256SUMS.new"
debs=() fetch=() skipped=0
while read -r pkg ver a sha _size when; do
    case "$pkg" in '#'* | '') continue ;; esac
    if [ "$when" = if-missing ] && installed "$pkg:$a"; then skipped=$((skipped + 1)); continue; fi
    deb="${pkg}_${ver//:/%3a}_${a}.deb"
    debs+=("$deb")
    printf '%s  %s\n' "$sha" "$deb" >>"$dest/debs/SHA256SUMS.new"
    (cd "$dest/debs" && printf '%s  %s\n' "$sha" "$deb" | sha256sum -c --status 2>/dev/null) || fetch+=("$pkg=$ver")
done <"$lock"
mv "$dest/debs/SHA256SUMS.new" "$dest/debs/SHA256SUMS"

if [ ${#fetch[@]} -gt 0 ]; then
    log "downloading ${#fetch[@]} packages ($skipped more are installed on this machine)"
    (cd "$dest/debs" && apt-get "${apt_opts[@]}" download "${fetch[@]}") ||
        die "apt-get download failed. If apt cannot find a version above, the archive has replaced it: run $0 --lock to pin the current one (and commit the lock); if apt's lists are old, run apt-get update (as root)"
fi
(cd "$dest/debs" && sha256sum -c --quiet SHA256SUMS) || die "a package does not match the lock's SHA-256 (above)"
# Packages a previous lock needed and this one does not.
for f in "$dest"/debs/*.deb; do
    case " ${debs[*]} " in *" $(basename "$f") "*) ;; *) rm -f "$f" ;; esac
done

rm -rf "${dest:?}/root" "${dest:?}/bin" "$stamp"
for deb in "${debs[@]}"; do dpkg-deb -x "$dest/debs/$deb" "$dest/root"; done

# The library folders of the unpacked packages, except Chromium's own (it loads those by path).
libdirs="$(cd "$dest/root" && find . -name '*.so*' -type f -not -path './usr/lib/chromium/*' -printf '%h\n' | sed 's|^\./||' | sort -u | tr '\n' ' ')"
lib=""
for d in $libdirs; do lib="$lib${lib:+:}$dest/root/$d"; done
mkdir -p "$dest/bin"
cat >"$dest/bin/chromium" <<EOF
#!/usr/bin/env bash
# Written by tools/browser/install-chromium.sh: the unpacked chromium-headless-shell with its libraries and fonts.
set -euo pipefail
top="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
lib=""
for d in $libdirs; do lib="\$lib\${lib:+:}\$top/root/\$d"; done
export LD_LIBRARY_PATH="\$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export FONTCONFIG_FILE="\$top/fonts.conf"
exec "\$top/root/usr/lib/chromium/chromium-headless-shell" "\$@"
EOF
chmod +x "$dest/bin/chromium"
# Only the unpacked DejaVu fonts, so text measures the same whatever fonts the machine has.
# The cache folder is named because fontconfig's default is /var/cache/fontconfig (and a
# relative one resolves against the working directory).
cat >"$dest/fonts.conf" <<EOF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>$dest/root/usr/share/fonts</dir>
  <cachedir>$dest/fontconfig-cache</cachedir>
  <alias><family>sans-serif</family><prefer><family>DejaVu Sans</family></prefer></alias>
  <alias><family>serif</family><prefer><family>DejaVu Serif</family></prefer></alias>
  <alias><family>monospace</family><prefer><family>DejaVu Sans Mono</family></prefer></alias>
</fontconfig>
EOF

# A library a skipped package should have provided, but this machine's version lacks.
missing="$(LD_LIBRARY_PATH="$lib" ldd "$dest/root/usr/lib/chromium/chromium-headless-shell" | awk '/not found/ {print $1}')"
[ -z "$missing" ] || die "libraries not found: $(tr '\n' ' ' <<<"$missing")"

# Proof that it runs: a page whose script writes the marker the DOM dump must show.
printf '<!doctype html><p id="m"></p><script>document.getElementById("m").textContent = "chromium " + "ran script"</script>\n' >"$dest/smoke.html"
out="$(timeout 60 "$dest/bin/chromium" --headless --no-sandbox --disable-gpu --dump-dom "file://$dest/smoke.html" 2>"$dest/smoke.log")" ||
    { cat "$dest/smoke.log" >&2; die "chromium did not run (log above)"; }
case "$out" in *"chromium ran script"*) ;; *) cat "$dest/smoke.log" >&2; die "chromium ran but did not execute the page's script" ;; esac

echo "$want" >"$stamp"
log "chromium-headless-shell $(awk '$1 == "chromium-headless-shell" {print $2}' "$lock") in ${dest#"$root"/}/ ($(du -sh "$dest/root" | cut -f1) unpacked, ${#debs[@]} packages, $skipped used from the system)"
